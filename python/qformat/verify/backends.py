"""The libraries qformat is compared with (torch on CPU or CUDA, NumPy,
ml_dtypes): each casts a chunk of inputs into a format's words."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from .._formats import Format, IntFormat

BACKENDS = ("torch", "numpy", "ml_dtypes")
SOURCES = ("f32", "f64", "f16", "bf16")

SOURCE_FORMAT = {"f32": "fp32", "f64": "fp64", "f16": "fp16", "bf16": "bf16"}
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


def source_dtype(source: str) -> np.dtype:
    """The NumPy dtype that holds inputs of ``source`` (bf16 needs ml_dtypes)."""
    if source == "bf16":
        try:
            import ml_dtypes
        except ImportError as e:  # pragma: no cover - ml_dtypes is a test dependency
            raise VerifyError("bf16 sources need the ml_dtypes package") from e
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype({"f32": np.float32, "f64": np.float64, "f16": np.float16}[source])


def word_dtype(dtype: np.dtype) -> np.dtype:
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
        return tuple(s for s in SOURCES if SOURCE_FORMAT[s] != fmt.name)

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
            return host[:m].view(word).numpy().view(word_dtype(np.dtype(f"u{out.element_size()}")))
        return run

    def encoder(self, fmt: Format, source: str, n: int) -> Callable[[np.ndarray], np.ndarray]:
        return self._pipe(n, SOURCE_FORMAT[source], self.dtypes[fmt.name])

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
        return tuple(s for s in SOURCES if SOURCE_FORMAT[s] != fmt.name)

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
    word = word_dtype(dtype)

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
        return cast(x).view(md).astype(dtype).view(word_dtype(dtype))
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


