"""Bit-for-bit cross-checks of qformat's casts against torch (CPU/CUDA), NumPy
and ml_dtypes: the library behind ``qformat verify``.

A *case* is one format and one direction: ``f32->X`` (every float32 pattern
when exhaustive), ``f64->X`` (always sampled), ``f16->X`` / ``bf16->X``
(every 16-bit pattern) and ``X->f32`` (every code of X; for integer formats
the int -> float32 rounding). Each chunk of inputs goes through
``qf.encode(x, fmt, profile=...)`` and through the backend, the two word
arrays are compared with one vectorised ``!=``, and only the mismatching
elements are classified (NaN bits, signed zero, subnormal flush, rounding
direction, overflow rule, int out-of-range, other), counted, and the first
examples kept. Buffers are reused, so memory is bounded by the chunk size.

Decoding (``X->f32``): qformat's decode widens NaN bits bit for bit, and no
profile describes how a backend widens NaNs, so a difference *only* in the
bits of a NaN (both sides NaN) is reported under ``tolerated`` and does not
fail the check; every other difference does.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ._convert import decode, encode
from ._formats import FloatFormat, Format, IntFormat, finfo, format
from ._profiles import profile as resolve_profile

__all__ = ["BACKENDS", "CLASSES", "VerifyError", "plan", "verify", "sample_inputs",
           "backend_for", "default_profile"]

BACKENDS = ("torch", "numpy", "ml_dtypes")
CLASSES = ("nan_bits", "signed_zero", "subnormal_flush", "rounding_direction",
           "overflow_rule", "int_out_of_range", "other")
SOURCES = ("f32", "f64", "f16", "bf16")
EXAMPLES = 5                 # first examples kept per class and case
CHUNK_BITS = 24              # 2^24 inputs per chunk: ~170 MB of buffers at most

_SOURCE_FORMAT = {"f32": "fp32", "f64": "fp64", "f16": "fp16", "bf16": "bf16"}
_INT_TARGETS = ("int8", "uint8", "int16", "int32")
_TORCH_FLOATS = ("fp16", "bf16", "fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2", "fp8_e5m2fnuz",
                 "fp8_e8m0fnu")
# qformat name -> ml_dtypes type name, for every type ml_dtypes may define
# (older releases lack some; the backend keeps those it finds).
_ML_TYPES = {"bf16": "bfloat16", "fp8_e4m3fn": "float8_e4m3fn",
             "fp8_e4m3fnuz": "float8_e4m3fnuz", "fp8_e5m2": "float8_e5m2",
             "fp8_e5m2fnuz": "float8_e5m2fnuz", "fp8_e8m0fnu": "float8_e8m0fnu",
             "fp8_e5m3fnu": "float8_e5m3fnu", "fp8_e4m3_ieee": "float8_e4m3",
             "fp8_e3m4": "float8_e3m4", "fp8_e4m3b11fnuz": "float8_e4m3b11fnuz",
             "fp6_e2m3fn": "float6_e2m3fn", "fp6_e3m2fn": "float6_e3m2fn",
             "fp4_e2m1fn": "float4_e2m1fn", "int1": "int1", "uint1": "uint1",
             "int2": "int2", "uint2": "uint2", "int4": "int4", "uint4": "uint4"}


class VerifyError(ValueError):
    """A request verify cannot carry out (unknown backend, unsupported format,
    missing library or device); the CLI prints it as one line, exit 2."""


# ---------------------------------------------------------------------------
# source arrays


def _source_dtype(source: str) -> np.dtype:
    """The NumPy dtype that holds inputs of ``source`` (bf16 needs ml_dtypes)."""
    if source == "bf16":
        try:
            import ml_dtypes
        except ImportError as e:  # pragma: no cover - ml_dtypes is a test dependency
            raise VerifyError("bf16 sources need the ml_dtypes package") from e
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype({"f32": np.float32, "f64": np.float64, "f16": np.float16}[source])


def _word(dtype: np.dtype) -> np.dtype:
    """The unsigned integer dtype of the same width, for bit comparisons."""
    return np.dtype(f"u{np.dtype(dtype).itemsize}")


# ---------------------------------------------------------------------------
# backends


class Backend:
    """One library's casts. ``encoder``/``decoder`` return callables that map
    a chunk to the library's result words (unsigned, one per element) and may
    reuse their buffers between calls."""

    name = ""
    device = "cpu"

    def versions(self) -> dict:
        return {}

    def formats(self) -> tuple:
        return ()

    def sources(self, fmt: Format) -> tuple:
        return ("f32", "f64")

    def encoder(self, fmt: Format, source: str, n: int) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def decoder(self, fmt: Format, n: int) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError


class TorchBackend(Backend):
    """``Tensor.to(dtype)`` on CPU or CUDA. Chunks are converted with
    ``dst.copy_(src)`` into a preallocated tensor: the kernel ``.to`` itself
    runs (``Tensor.to`` -> ``_to_copy`` -> ``copy_``) without a fresh
    allocation per chunk."""

    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        try:
            import torch
        except ImportError as e:
            raise VerifyError("--against torch needs the torch package") from e
        if device not in ("cpu", "cuda"):
            raise VerifyError(f"unknown device {device!r}; choose cpu or cuda")
        if device == "cuda" and not torch.cuda.is_available():
            raise VerifyError("--device cuda: torch sees no CUDA device on this machine")
        self.torch = torch
        self.device = device
        t = torch
        self.dtypes = {"fp16": t.float16, "bf16": t.bfloat16, "fp8_e4m3fn": t.float8_e4m3fn,
                       "fp8_e4m3fnuz": t.float8_e4m3fnuz, "fp8_e5m2": t.float8_e5m2,
                       "fp8_e5m2fnuz": t.float8_e5m2fnuz, "int8": t.int8, "uint8": t.uint8,
                       "int16": t.int16, "int32": t.int32, "fp32": t.float32,
                       "fp64": t.float64}
        if hasattr(t, "float8_e8m0fnu"):
            self.dtypes["fp8_e8m0fnu"] = t.float8_e8m0fnu

    def versions(self) -> dict:
        t = self.torch
        v = {"torch": t.__version__, "device": self.device}
        if self.device == "cpu":
            v["cpu_capability"] = t.backends.cpu.get_cpu_capability()
        else:
            v["cuda"] = t.version.cuda
            v["gpu"] = t.cuda.get_device_name(0)
            v["compute_capability"] = ".".join(map(str, t.cuda.get_device_capability(0)))
        return v

    def formats(self) -> tuple:
        return tuple(f for f in _TORCH_FLOATS + _INT_TARGETS if f in self.dtypes)

    def sources(self, fmt: Format) -> tuple:
        return tuple(s for s in SOURCES if _SOURCE_FORMAT[s] != fmt.name)

    def _tensor(self, x: np.ndarray, fmt_name: str) -> Any:
        """A host tensor sharing ``x``'s memory, typed as ``fmt_name``: NumPy
        floats and integers directly, codes of bf16/fp8 (and float16 codes)
        reinterpreted bit for bit."""
        t = self.torch
        if x.dtype.kind in "fi" or (x.dtype.kind == "u" and fmt_name in _INT_TARGETS):
            return t.from_numpy(x)
        word = {1: np.uint8, 2: np.int16}[x.dtype.itemsize]
        return t.from_numpy(x.view(word)).view(self.dtypes[fmt_name])

    def _pipe(self, n: int, src: str, dst: Any) -> Callable[[np.ndarray], np.ndarray]:
        t = self.torch
        out = t.empty(n, dtype=dst, device=self.device)
        word = {1: t.uint8, 2: t.int16, 4: t.int32}[out.element_size()]
        host = out if self.device == "cpu" else t.empty(n, dtype=dst, pin_memory=True)
        staging: dict = {}

        def run(x: np.ndarray) -> np.ndarray:
            m = x.shape[0]
            s = self._tensor(x, src)
            if self.device != "cpu":
                buf = staging.get(s.dtype)
                if buf is None or buf.shape[0] < m:
                    buf = staging[s.dtype] = t.empty(n, dtype=s.dtype, device=self.device)
                buf[:m].copy_(s, non_blocking=False)
                s = buf[:m]
            out[:m].copy_(s)
            if self.device != "cpu":
                host[:m].copy_(out[:m])
            return host[:m].view(word).numpy().view(_word(np.dtype(f"u{out.element_size()}")))
        return run

    def encoder(self, fmt: Format, source: str, n: int) -> Callable[[np.ndarray], np.ndarray]:
        return self._pipe(n, _SOURCE_FORMAT[source], self.dtypes[fmt.name])

    def decoder(self, fmt: Format, n: int) -> Callable[[np.ndarray], np.ndarray]:
        return self._pipe(n, fmt.name, self.torch.float32)


class NumpyBackend(Backend):
    """``ndarray.astype``: float16 and the integer casts."""

    name = "numpy"

    def versions(self) -> dict:
        return {"numpy": np.__version__}

    def formats(self) -> tuple:
        return ("fp16",) + _INT_TARGETS

    def sources(self, fmt: Format) -> tuple:
        return ("f32", "f64") if fmt.name == "fp16" else ("f32", "f64", "f16")

    def encoder(self, fmt: Format, source: str, n: int) -> Callable[[np.ndarray], np.ndarray]:
        dt = np.dtype(np.float16) if fmt.name == "fp16" else fmt.storage_dtype
        return _astype(dt, n)

    def decoder(self, fmt: Format, n: int) -> Callable[[np.ndarray], np.ndarray]:
        view = np.dtype(np.float16) if fmt.name == "fp16" else None
        return _astype(np.dtype(np.float32), n, view)


class MlDtypesBackend(Backend):
    """ml_dtypes array ``astype`` (the NumPy cast registered by ml_dtypes)."""

    name = "ml_dtypes"

    def __init__(self) -> None:
        try:
            import ml_dtypes
        except ImportError as e:
            raise VerifyError("--against ml_dtypes needs the ml_dtypes package") from e
        self.md = ml_dtypes
        self.dtypes = {k: np.dtype(getattr(ml_dtypes, v)) for k, v in _ML_TYPES.items()
                       if hasattr(ml_dtypes, v)}

    def versions(self) -> dict:
        return {"ml_dtypes": self.md.__version__, "numpy": np.__version__}

    def formats(self) -> tuple:
        return tuple(self.dtypes)

    def sources(self, fmt: Format) -> tuple:
        return tuple(s for s in SOURCES if _SOURCE_FORMAT[s] != fmt.name)

    def encoder(self, fmt: Format, source: str, n: int) -> Callable[[np.ndarray], np.ndarray]:
        md = self.dtypes[fmt.name]
        cast = _astype(md, n)
        if isinstance(fmt, IntFormat):          # sub-byte integers: compare values
            return _widened(cast, md, fmt.storage_dtype)
        return cast

    def decoder(self, fmt: Format, n: int) -> Callable[[np.ndarray], np.ndarray]:
        if isinstance(fmt, IntFormat):          # the int values, as that type
            md = self.dtypes[fmt.name]
            return lambda x: x.astype(md).astype(np.float32).view(np.uint32)
        return _astype(np.dtype(np.float32), n, self.dtypes[fmt.name])


def _astype(dtype: np.dtype, n: int, view: Optional[np.dtype] = None
            ) -> Callable[[np.ndarray], np.ndarray]:
    """``x.astype(dtype)`` (x first seen as ``view`` if given: codes as their
    float type) into one reused buffer, returned as unsigned words. NumPy's
    "invalid value in cast" warnings are silenced: the values are compared."""
    buf = np.empty(n, dtype)
    word = _word(dtype)

    def run(x: np.ndarray) -> np.ndarray:
        out = buf[:x.shape[0]]
        with np.errstate(all="ignore"):
            np.copyto(out, x if view is None else x.view(view), casting="unsafe")
        return out.view(word)
    return run


def _widened(cast: Callable[[np.ndarray], np.ndarray], md: np.dtype, dtype: np.dtype
             ) -> Callable[[np.ndarray], np.ndarray]:
    """``cast``'s results (ml_dtypes sub-byte integers, stored as their low
    bits) as integer values of ``dtype``, returned as unsigned words like
    qformat's."""
    def run(x: np.ndarray) -> np.ndarray:
        return cast(x).view(md).astype(dtype).view(_word(dtype))
    return run


def backend_for(against: str, device: str = "cpu") -> Backend:
    """The backend object for ``--against`` / ``--device``."""
    if against not in BACKENDS:
        raise VerifyError(f"unknown backend {against!r}; choose one of {', '.join(BACKENDS)}")
    if against != "torch" and device != "cpu":
        raise VerifyError(f"--device {device} applies to --against torch only")
    if against == "torch":
        return TorchBackend(device)
    return NumpyBackend() if against == "numpy" else MlDtypesBackend()


def default_profile(against: str, device: str = "cpu") -> str:
    """The profile that should reproduce ``against`` exactly."""
    if against == "torch":
        return "torch-cuda" if device == "cuda" else "torch-cpu"
    return against


# ---------------------------------------------------------------------------
# sampled inputs: every class, then random fill


def _target_values(fmt: FloatFormat) -> np.ndarray:
    """Every finite non-negative value of a <=16-bit float format, increasing."""
    codes = np.arange(1 << fmt.bits, dtype=np.uint32).astype(fmt.storage_dtype)
    v = decode(codes, fmt)
    return np.unique(np.abs(v[np.isfinite(v)]))


def _neighbours(x: np.ndarray, dtype: np.dtype, steps: int) -> list:
    """``x`` (cast to ``dtype``) and its ``steps`` neighbours on each side."""
    b = x.astype(dtype)
    out, up, down = [b], b, b
    for _ in range(steps):
        up = np.nextafter(up, dtype.type(np.inf))
        down = np.nextafter(down, dtype.type(-np.inf))
        out += [up, down]
    return out


def _float_pools(fmt: FloatFormat, dt: np.dtype, rng: np.random.Generator) -> dict:
    """Inputs of source dtype ``dt`` by class, for a float target."""
    v = _target_values(fmt)
    vmax = v[-1]
    nxt = vmax + (vmax - v[-2]) if fmt.man_bits else 2 * vmax
    grid = np.append(v, nxt)
    ties = (grid[:-1] + grid[1:]) / 2                       # exact in float64
    if fmt.man_bits == 0:                                   # power-of-two scale: 1.5 * 2^k
        ties = grid[:-1] * 1.5
    near = _neighbours(ties, dt, 2)
    if dt == np.float64:
        near += [n.astype(np.float64) for n in _neighbours(ties, np.dtype(np.float32), 1)]
    tiny = finfo(fmt).smallest_normal
    sub = np.concatenate([v[v < tiny], ties[ties < tiny], tiny * rng.random(512),
                          np.exp2(rng.uniform(-160, np.log2(tiny), 512))])
    src_sub = rng.integers(1, 1 << 23, 256, dtype=np.uint32).view(np.float32)
    top = max(np.log2(vmax) + 1, 1023.9 if dt == np.float64 else 127.99)
    over = np.concatenate(_neighbours(np.array([vmax, (vmax + nxt) / 2, nxt, 2 * vmax]), dt, 3)
                          + [np.exp2(rng.uniform(np.log2(vmax), top, 256))])
    over = np.concatenate([over.astype(np.float64), [np.finfo(dt).max, np.inf]])
    pools = {
        "values": v, "ties": ties, "near_ties": np.concatenate(near).astype(np.float64),
        "subnormals": np.concatenate([sub, src_sub.astype(np.float64)]),
        "overflow": over,
        "in_range": np.exp2(rng.uniform(np.log2(v[1]), np.log2(vmax), 4096)),
    }
    return {k: _signed(p.astype(dt)) for k, p in pools.items()}


def _int_pools(fmt: IntFormat, dt: np.dtype, rng: np.random.Generator) -> dict:
    """Inputs around every integer-cast boundary: the target's limits, the
    int32 trip (2^31) that torch/NumPy take, ties k + 0.5 and neighbours."""
    lo, hi = fmt.min, fmt.max
    ks = np.array([0, 1, 2, 3, lo, hi, lo - 1, hi + 1, lo + 1, hi - 1, 2**7, 2**8, 2**15,
                   2**16, 2**24, 2**31, 2**32, 2**53, 2**63], dtype=np.float64)
    ks = np.concatenate([ks, -ks])
    halves = np.concatenate([ks + 0.5, ks - 0.5, ks + 0.25, ks - 0.75])
    bound = np.concatenate(_neighbours(np.concatenate([ks, halves]), dt, 2))
    span = float(hi - lo)
    ties = np.floor(rng.uniform(lo - 4, hi + 4, 4096)) + 0.5
    return {
        "int_boundaries": bound.astype(dt),
        "int_ties": ties.astype(dt),
        "in_range": rng.uniform(lo - 0.1 * span, hi + 0.1 * span, 4096).astype(dt),
        "large": _signed(np.exp2(rng.uniform(0, 70, 2048)).astype(dt)),
    }


def _signed(x: np.ndarray) -> np.ndarray:
    """``x`` with both signs."""
    return np.concatenate([x, -x])


def _special_pool(dt: np.dtype, rng: np.random.Generator) -> dict:
    """NaNs with random payloads and both signs, signed zeros, infinities and
    raw random bit patterns of the source."""
    if dt == np.float64:
        pay = rng.integers(1, 1 << 52, 2048, dtype=np.uint64)
        fixed = np.array([1, 1 << 51, (1 << 52) - 1, 0x8000000000000, 0x2468AC0000000],
                         dtype=np.uint64)
        pay = np.concatenate([pay, fixed])
        nan = (pay | np.uint64(0x7FF0000000000000)).view(np.float64)
        raw = rng.integers(0, 2**63, 4096, dtype=np.uint64)
        raw = (raw | (rng.integers(0, 2, 4096, dtype=np.uint64) << np.uint64(63))).view(dt)
    else:
        pay = rng.integers(1, 1 << 23, 2048, dtype=np.uint32)
        fixed = np.array([1, 1 << 22, (1 << 23) - 1, 0x200000, 0x523456, 0x2000, 0x1FFF],
                         dtype=np.uint32)
        nan = (np.concatenate([pay, fixed]) | np.uint32(0x7F800000)).view(np.float32)
        raw = rng.integers(0, 1 << 32, 4096, dtype=np.uint64).astype(np.uint32).view(np.float32)
    zeros = np.array([0.0, -0.0, np.inf, -np.inf], dtype=dt)
    return {"nan": np.concatenate([nan, -nan]).astype(dt), "zeros_inf": zeros,
            "random_bits": raw.astype(dt)}


def sample_inputs(fmt: Format, source: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` inputs (rounded up to a multiple of 64, so torch's vector blocks
    are always full) of ``source`` for casts into ``fmt``: every class of
    input is drawn (values, exact ties, near ties, subnormals, the overflow
    boundary, NaN payloads, signed zeros, infinities, int-cast boundaries),
    an equal share each, the rest raw random bit patterns. Deterministic."""
    dt = _source_dtype(source)
    if dt.itemsize < 4:
        raise VerifyError("sampled inputs are drawn for f32 and f64 sources")
    rng = np.random.default_rng([seed, fmt.bits, len(fmt.name)])
    n = max(64, -(-n // 64) * 64)
    with np.errstate(over="ignore", invalid="ignore"):    # inf from beyond-range casts is wanted
        if isinstance(fmt, IntFormat):
            pools = _int_pools(fmt, dt, rng)
        else:
            assert isinstance(fmt, FloatFormat)
            pools = _float_pools(fmt, dt, rng)
        pools.update(_special_pool(dt, rng))
    share = n // (len(pools) + 1)
    parts = []
    for p in pools.values():
        parts.append(p if p.size <= share else rng.choice(p, share, replace=False))
    x = np.concatenate(parts)[:n]
    fill = n - x.size
    if fill:
        wide = 1 << (8 * dt.itemsize)
        raw = rng.integers(0, min(wide, 1 << 63), fill, dtype=np.uint64)
        if dt == np.float64:
            raw |= rng.integers(0, 2, fill, dtype=np.uint64) << np.uint64(63)
        x = np.concatenate([x, raw.astype(_word(dt)).view(dt)])
    rng.shuffle(x)
    return np.ascontiguousarray(x)


def _int_codes_sample(fmt: IntFormat, n: int, seed: int) -> np.ndarray:
    """int32 -> float32 inputs: ties and neighbours of every power of two from
    2^24 up (where float32 stops being exact), the limits, random values."""
    rng = np.random.default_rng([seed, 32])
    ks = []
    for e in range(24, 31):
        base = np.int64(1) << e
        step = np.int64(1) << (e - 23)
        off = np.arange(-4, 5, dtype=np.int64)
        mids = base + step * rng.integers(0, 1 << 23, 64) + step // 2
        ks += [base + off, mids, mids + 1, mids - 1, -(base + off), -mids]
    ks.append(np.array([fmt.min, fmt.max, fmt.min + 1, fmt.max - 1, 0, 1, -1], dtype=np.int64))
    x = np.concatenate(ks)
    fill = max(0, n - x.size)
    x = np.concatenate([x, rng.integers(fmt.min, fmt.max, fill, endpoint=True)])
    return np.clip(x, fmt.min, fmt.max).astype(fmt.storage_dtype)


# ---------------------------------------------------------------------------
# cases


@dataclass
class Case:
    """One format in one direction, with a factory for its input chunks."""

    fmt: Format
    direction: str                 # "f32->X", "f64->X", "f16->X", "bf16->X", "X->f32"
    total: int
    chunks: Callable[[], Iterator[np.ndarray]]
    chunk: int

    @property
    def label(self) -> str:
        return f"{self.fmt.name} {self.direction.replace('X', self.fmt.name)}"


def _exhaustive_f32(chunk: int) -> Callable[[], Iterator[np.ndarray]]:
    """Every float32 pattern, ``chunk`` at a time, in one reused buffer."""
    def gen() -> Iterator[np.ndarray]:
        base = np.arange(chunk, dtype=np.uint32)
        buf = np.empty(chunk, np.uint32)
        for start in range(0, 1 << 32, chunk):
            np.add(base, np.uint32(start), out=buf)
            yield buf.view(np.float32)
    return gen


def _exhaustive_int32(chunk: int) -> Callable[[], Iterator[np.ndarray]]:
    """Every int32 value, ``chunk`` at a time."""
    gen = _exhaustive_f32(chunk)

    def ints() -> Iterator[np.ndarray]:
        for c in gen():
            yield c.view(np.int32)
    return ints


def _chunked(x: np.ndarray, chunk: int) -> Callable[[], Iterator[np.ndarray]]:
    def gen() -> Iterator[np.ndarray]:
        for i in range(0, x.size, chunk):
            yield x[i:i + chunk]
    return gen


def _all_codes(fmt: Format, source_dtype: Optional[np.dtype] = None) -> np.ndarray:
    """Every code of a <=16-bit format (integers: every value)."""
    if isinstance(fmt, IntFormat):
        return np.arange(fmt.min, fmt.max + 1, dtype=np.int64).astype(fmt.storage_dtype)
    codes = np.arange(1 << fmt.bits, dtype=np.uint32).astype(fmt.storage_dtype)
    return codes if source_dtype is None else codes.view(source_dtype)


def plan(backend: Backend, formats: list, *, exhaustive: bool = False, samples: int = 100_000,
         sources: Optional[list] = None, decode_check: bool = True, seed: int = 0,
         chunk_bits: int = CHUNK_BITS) -> tuple:
    """The cases to run and the ones skipped (with the reason)."""
    chunk = 1 << chunk_bits
    cases, skipped = [], []
    for name in formats:
        fmt = format(name)
        if fmt.name not in backend.formats():
            raise VerifyError(f"{backend.name} has no cast to {fmt.name}; it checks "
                              f"{', '.join(backend.formats())}")
        for src in sources or backend.sources(fmt):
            if src not in backend.sources(fmt):
                skipped.append({"format": fmt.name, "direction": f"{src}->X",
                                "reason": f"{backend.name} has no {src} -> {fmt.name} cast"})
                continue
            cases.append(_encode_case(fmt, src, exhaustive, samples, seed, chunk))
        if decode_check:
            cases.append(_decode_case(fmt, exhaustive, samples, seed, chunk))
    return cases, skipped


def _encode_case(fmt: Format, src: str, exhaustive: bool, samples: int, seed: int,
                 chunk: int) -> Case:
    if src in ("f16", "bf16"):
        x = _all_codes(format(_SOURCE_FORMAT[src]), _source_dtype(src))
        return Case(fmt, f"{src}->X", x.size, _chunked(x, chunk), chunk)
    if src == "f32" and exhaustive:
        return Case(fmt, "f32->X", 1 << 32, _exhaustive_f32(chunk), chunk)
    x = sample_inputs(fmt, src, samples, seed)
    return Case(fmt, f"{src}->X", x.size, _chunked(x, chunk), chunk)


def _decode_case(fmt: Format, exhaustive: bool, samples: int, seed: int, chunk: int) -> Case:
    if isinstance(fmt, IntFormat) and fmt.bits == 32:
        if exhaustive:
            return Case(fmt, "X->f32", 1 << 32, _exhaustive_int32(chunk), chunk)
        x = _int_codes_sample(fmt, samples, seed)
    else:
        x = _all_codes(fmt)
    return Case(fmt, "X->f32", x.size, _chunked(x, chunk), chunk)


# ---------------------------------------------------------------------------
# comparison and classification


@dataclass
class Tally:
    """Mismatch counts and first examples of one case; ``tolerated`` holds
    the NaN-bit differences of decoding, which do not fail the check."""

    counts: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)
    tolerated: dict = field(default_factory=dict)
    tolerated_examples: dict = field(default_factory=dict)

    def add(self, classes: np.ndarray, row: Callable[[int], dict], tolerated: bool = False) -> None:
        """Count ``classes`` (class ids) and keep the first examples of each;
        ``row(j)`` builds the example of element j (only called for kept ones)."""
        counts = self.tolerated if tolerated else self.counts
        examples = self.tolerated_examples if tolerated else self.examples
        for cid, k in enumerate(np.bincount(classes, minlength=len(CLASSES)).tolist()):
            if not k:
                continue
            name = CLASSES[cid]
            counts[name] = counts.get(name, 0) + k
            keep = examples.setdefault(name, [])
            if len(keep) < EXAMPLES:
                keep += [row(j) for j in np.flatnonzero(classes == cid)[:EXAMPLES - len(keep)]]

    @property
    def mismatches(self) -> int:
        return sum(self.counts.values())


_CID = {name: np.int8(i) for i, name in enumerate(CLASSES)}


class _Table:
    """Exact values of every code of a <=16-bit float format, for
    classification by lookup (float32 holds all of them exactly)."""

    def __init__(self, fmt: FloatFormat, dtype: np.dtype) -> None:
        with np.errstate(invalid="ignore"):
            self.values = decode(_all_codes(fmt), fmt).astype(dtype)
        info = finfo(fmt)
        self.max, self.tiny = dtype.type(info.max), dtype.type(info.smallest_normal)
        self.signed = fmt.signed


def _classify_float(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
                    table: _Table) -> np.ndarray:
    """A class id per mismatching element of a float target (later rules win:
    rounding < flush < signed zero < overflow < NaN bits)."""
    dt = table.values.dtype
    xv = x.astype(dt)
    if not table.signed:                  # unsigned scale formats: compare magnitudes
        xv = np.abs(xv)
    a, b = table.values[ours], table.values[theirs]
    nan_in, an, bn = np.isnan(xv), np.isnan(a), np.isnan(b)
    ax = np.abs(xv)
    cls = np.full(x.shape, _CID["other"], np.int8)
    with np.errstate(invalid="ignore"):
        lo, hi = np.fmin(a, b), np.fmax(a, b)
        cls[(lo <= xv) & (xv <= hi)] = _CID["rounding_direction"]
        # a zero on one side is a flush unless x lies strictly between the
        # two results (then it is a rounding choice, e.g. double rounding)
        strictly = (lo < xv) & (xv < hi)
        cls[((a == 0) ^ (b == 0)) & (ax < table.tiny) & (xv != 0) & ~an & ~bn & ~strictly] = \
            _CID["subnormal_flush"]
        cls[(a == 0) & (b == 0)] = _CID["signed_zero"]
        cls[(ax > table.max) & ~nan_in] = _CID["overflow_rule"]
    cls[nan_in | (an & bn)] = _CID["nan_bits"]
    return cls


def _classify_int(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
                  fmt: IntFormat) -> np.ndarray:
    """A class id per mismatching element of an integer target."""
    xv = x.astype(np.float64)
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    cls = np.full(x.shape, _CID["other"], np.int8)
    with np.errstate(invalid="ignore"):
        between = (np.fmin(a, b) <= xv) & (xv <= np.fmax(a, b)) & (np.abs(a - b) == 1)
        cls[between] = _CID["rounding_direction"]
        cls[~((xv >= fmt.min) & (xv <= fmt.max))] = _CID["int_out_of_range"]  # NaN, inf too
    return cls


def _classify_decode(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
                     ints: bool) -> tuple:
    """Class ids, and the tolerated mask (both results NaN), for X -> f32;
    ``ints``: x holds integer values (int -> float32 rounding), not codes."""
    a, b = ours.view(np.float32), theirs.view(np.float32)
    cls = np.full(x.shape, _CID["other"], np.int8)
    if ints:
        xv, av, bv = x.astype(np.float64), a.astype(np.float64), b.astype(np.float64)
        cls[(np.fmin(av, bv) <= xv) & (xv <= np.fmax(av, bv))] = _CID["rounding_direction"]
    cls[(a == 0) & (b == 0)] = _CID["signed_zero"]
    cls[np.isnan(a) | np.isnan(b)] = _CID["nan_bits"]
    return cls, np.isnan(a) & np.isnan(b)


def _hex(v: Any, width: int) -> str:
    return f"0x{int(v):0{width}x}"


def _row_maker(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
               values: Optional[tuple] = None) -> Callable[[int], dict]:
    """Example builder: input bits and value, our and their result bits (and
    the integer values for integer targets)."""
    xw = x.view(_word(x.dtype))
    width, ow = 2 * x.dtype.itemsize, 2 * ours.dtype.itemsize

    def row(j: int) -> dict:
        r = {"input": _hex(xw[j], width), "value": repr(x[j].item()),
             "ours": _hex(ours[j], ow), "theirs": _hex(theirs[j], ow)}
        if values is not None:
            r["ours_value"], r["theirs_value"] = values[0][j].item(), values[1][j].item()
        return r
    return row


def _encode_options(fmt: Format, profile: str, options: dict) -> dict:
    """encode() keyword arguments. Where the profile leaves NaN an error (an
    integer target outside the torch/numpy profiles, a format without NaN
    under ieee), NaN maps to 0 so that the sweep can run."""
    kw = {"profile": profile, **options}
    ieee = resolve_profile(profile).library == "ieee"
    if isinstance(fmt, IntFormat) and ieee:
        kw.setdefault("nan", 0)
    if isinstance(fmt, FloatFormat) and fmt.nan == "none" and ieee:
        kw.setdefault("nan", 0)         # IEEE has no rule for formats without NaN: +0
    return kw


class _Checker:
    """Runs one case: chunks through both sides, one ``!=`` per chunk,
    classification of the mismatches only."""

    def __init__(self, case: Case, backend: Backend, profile: str, options: dict) -> None:
        fmt = self.fmt = case.fmt
        self.case, self.tally = case, Tally()
        self.decode_dir = case.direction == "X->f32"
        self.theirs = (backend.decoder(fmt, case.chunk) if self.decode_dir
                       else backend.encoder(fmt, case.direction.split("->")[0], case.chunk))
        out_dt = np.dtype(np.uint32) if self.decode_dir else np.dtype(fmt.storage_dtype)
        self.word = _word(out_dt)
        float_decode = self.decode_dir and isinstance(fmt, FloatFormat)
        self.ours_buf = np.empty(case.chunk, np.float32 if float_decode else out_dt)
        self.ne = np.empty(case.chunk, bool)
        self.kw = _encode_options(fmt, profile, options)
        self.table: Optional[_Table] = None
        if isinstance(fmt, FloatFormat) and not self.decode_dir:
            f64 = case.direction.startswith("f64")
            self.table = _Table(fmt, np.dtype(np.float64 if f64 else np.float32))

    def run(self, advance: Callable[[int], None]) -> dict:
        with np.errstate(invalid="ignore", over="ignore"):   # NaN/inf casts are the point
            return self._run(advance)

    def _run(self, advance: Callable[[int], None]) -> dict:
        t0 = time.perf_counter()
        for x in self.case.chunks():
            m = x.shape[0]
            ours = self._ours(x, self.ours_buf[:m]).view(self.word)
            theirs = self.theirs(x)
            ne = self.ne[:m]
            np.not_equal(ours, theirs, out=ne)
            if np.count_nonzero(ne):
                self._tally(x, ours, theirs, np.flatnonzero(ne))
            advance(m)
        return self._result(time.perf_counter() - t0)

    def _ours(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """qformat's result for one chunk."""
        if not self.decode_dir:
            return encode(x, self.fmt, out=out, **self.kw)
        if isinstance(self.fmt, IntFormat):        # int -> float32 rounding, in the engine
            return encode(x, "fp32", out=out, profile=self.kw["profile"])
        return decode(x, self.fmt, dtype=np.float32, out=out)

    def _tally(self, x: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
               idx: np.ndarray) -> None:
        xs, o, t = x[idx], ours[idx], theirs[idx]
        fmt, tally = self.fmt, self.tally
        if self.decode_dir:
            cls, tol = _classify_decode(xs, o, t, isinstance(fmt, IntFormat))
            for mask, tolerated in ((tol, True), (~tol, False)):
                if mask.any():
                    tally.add(cls[mask], _row_maker(xs[mask], o[mask], t[mask]), tolerated)
        elif isinstance(fmt, IntFormat):
            sd = fmt.storage_dtype
            tally.add(_classify_int(xs, o.view(sd), t.view(sd), fmt),
                      _row_maker(xs, o, t, (o.view(sd), t.view(sd))))
        else:
            assert self.table is not None
            tally.add(_classify_float(xs, o, t, self.table), _row_maker(xs, o, t))

    def _result(self, seconds: float) -> dict:
        t = self.tally
        return {"format": self.fmt.name,
                "direction": self.case.direction.replace("X", self.fmt.name),
                "inputs": self.case.total, "mismatches": t.mismatches,
                "classes": {k: {"count": t.counts[k], "examples": t.examples[k]}
                            for k in CLASSES if k in t.counts},
                "tolerated": {k: {"count": t.tolerated[k], "examples": t.tolerated_examples[k]}
                              for k in CLASSES if k in t.tolerated},
                "seconds": round(seconds, 2)}


def verify(against: str, *, device: str = "cpu", formats: Optional[list] = None,
           profile: Optional[str] = None, exhaustive: bool = False, samples: int = 100_000,
           sources: Optional[list] = None, decode_check: bool = True,
           options: Optional[dict] = None, seed: int = 0, chunk_bits: int = CHUNK_BITS,
           progress: Optional[Any] = None) -> dict:
    """Compare qformat with ``against`` bit for bit and return the report.

    ``formats`` defaults to every format the backend casts to; ``profile`` to
    the one that should reproduce the backend (``default_profile``);
    ``options`` are extra encode options (rounding, subnormals, overflow,
    nan) that override the profile, e.g. to inject a fault. ``progress``, if
    given, gets ``start(label, total)`` and ``advance(n)`` calls. The report
    is JSON-ready; ``report["mismatches"] == 0`` means bit-for-bit agreement
    (tolerated NaN-bit differences of decoding aside).
    """
    backend = backend_for(against, device)
    profile = profile or default_profile(against, device)
    formats = list(formats or backend.formats())
    if exhaustive:                  # the f64 -> X cases stay sampled, but larger
        samples = max(samples, 1 << 20)
    _check_options(profile, options or {})
    t0 = time.perf_counter()
    cases, skipped = plan(backend, formats, exhaustive=exhaustive, samples=samples,
                          sources=sources, decode_check=decode_check, seed=seed,
                          chunk_bits=chunk_bits)
    results = []
    for case in cases:
        if progress is not None:
            progress.start(case.label, case.total)
        checker = _Checker(case, backend, profile, options or {})
        results.append(checker.run(progress.advance if progress is not None else _nothing))
        if progress is not None and hasattr(progress, "finish"):
            progress.finish(results[-1])
    return _report(backend, profile, options or {}, exhaustive, samples, seed, results, skipped,
                   time.perf_counter() - t0)


def _nothing(_: int) -> None:
    return None


def _check_options(profile: str, options: dict) -> None:
    """Fail early (VerifyError) on an unknown profile or encode option."""
    allowed = {"rounding", "subnormals", "overflow", "nan"}
    bad = set(options) - allowed
    if bad:
        raise VerifyError(f"unknown encode option(s) {', '.join(sorted(bad))}; "
                          f"use {', '.join(sorted(allowed))}")
    try:
        encode(np.zeros(1, np.float32), "fp16", profile=profile,
               **{k: v for k, v in options.items() if k != "overflow"})
    except (ValueError, TypeError) as e:
        raise VerifyError(str(e).splitlines()[0]) from e


def _report(backend: Backend, profile: str, options: dict, exhaustive: bool, samples: int,
            seed: int, results: list, skipped: list, seconds: float) -> dict:
    from . import __version__

    mism = sum(r["mismatches"] for r in results)
    p = resolve_profile(profile)
    warnings = []
    if p.guessed:
        warnings.append(f"the installed {p.library} {p.version} is outside the releases whose "
                        f"rules qformat knows; the rules of {p.versions} stand in for it, so "
                        "mismatches may be the library's changes rather than bugs")
    if not p.verified:
        warnings.append(f"profile {p.name} has not been checked against the real library yet")
    return {
        "backend": backend.name, "device": backend.device, "profile": p.name,
        "profile_rules": f"{p.library} {p.versions}", "warnings": warnings,
        "options": options, "mode": "exhaustive" if exhaustive else "sampled",
        "samples": None if exhaustive else samples, "seed": seed,
        "versions": {"qformat": __version__, "python": platform.python_version(),
                     "platform": platform.platform(), **backend.versions()},
        "inputs": sum(r["inputs"] for r in results), "mismatches": mism, "clean": mism == 0,
        "seconds": round(seconds, 2), "cases": results, "skipped": skipped,
    }
