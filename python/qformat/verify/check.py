"""Runs the cases of a check: both sides per chunk, one ``!=``, the
mismatches classified; :func:`verify` is the entry point."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np

from .._convert import decode, encode
from .._formats import FloatFormat, Format, IntFormat
from .._profiles import profile as resolve_profile
from .backends import Backend, VerifyError, backend_for, default_profile, word_dtype
from .classify import (
    CLASSES,
    Tally,
    ValueTable,
    classify_decode,
    classify_float,
    classify_int,
    row_maker,
)
from .report import build_report
from .sampling import CHUNK_BITS, Case, plan


def encode_options(fmt: Format, profile: str, options: dict) -> dict:
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


class Checker:
    """Runs one case: chunks through both sides, one ``!=`` per chunk,
    classification of the mismatches only."""

    def __init__(self, case: Case, backend: Backend, profile: str, options: dict) -> None:
        fmt = self.fmt = case.fmt
        self.case, self.tally = case, Tally()
        self.decode_dir = case.direction == "X->f32"
        self.theirs = (backend.decoder(fmt, case.chunk) if self.decode_dir
                       else backend.encoder(fmt, case.direction.split("->")[0], case.chunk))
        out_dt = np.dtype(np.uint32) if self.decode_dir else np.dtype(fmt.storage_dtype)
        self.word = word_dtype(out_dt)
        float_decode = self.decode_dir and isinstance(fmt, FloatFormat)
        self.ours_buf = np.empty(case.chunk, np.float32 if float_decode else out_dt)
        self.ne = np.empty(case.chunk, bool)
        self.kw = encode_options(fmt, profile, options)
        self.table: Optional[ValueTable] = None
        if isinstance(fmt, FloatFormat) and not self.decode_dir:
            f64 = case.direction.startswith("f64")
            self.table = ValueTable(fmt, np.dtype(np.float64 if f64 else np.float32))

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
            cls, tol = classify_decode(xs, o, t, isinstance(fmt, IntFormat))
            for mask, tolerated in ((tol, True), (~tol, False)):
                if mask.any():
                    tally.add(cls[mask], row_maker(xs[mask], o[mask], t[mask]), tolerated)
        elif isinstance(fmt, IntFormat):
            sd = fmt.storage_dtype
            tally.add(classify_int(xs, o.view(sd), t.view(sd), fmt),
                      row_maker(xs, o, t, (o.view(sd), t.view(sd))))
        else:
            assert self.table is not None
            tally.add(classify_float(xs, o, t, self.table), row_maker(xs, o, t))

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
        checker = Checker(case, backend, profile, options or {})
        results.append(checker.run(progress.advance if progress is not None else _nothing))
        if progress is not None and hasattr(progress, "finish"):
            progress.finish(results[-1])
    return build_report(backend, profile, options or {}, exhaustive, samples, seed, results,
                        skipped, time.perf_counter() - t0)


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


