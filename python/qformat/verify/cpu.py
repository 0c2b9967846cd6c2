"""``qformat verify --against cpu``: the processor's own conversion
instructions compared with qformat's hardware profiles bit for bit.

A case is one instruction under one MXCSR mode (rounding field × FTZ ×
DAZ). Inputs are every float32 pattern (``exhaustive``, float32 sources) or
a deterministic sample with structured edges (ties, neighbours of ties,
subnormals, the overflow boundary, NaN payloads, signed zeros, infinities,
integer-cast limits) for float64 sources and sampled runs. Each chunk goes
through the instruction (``_native.cpu_convert``, which sets MXCSR around
its loop) and through ``qf.encode(x, target, profile=...)``, and the
mismatches are classified exactly as the library sweeps classify them
(``verify.check.Checker``).

What qformat is told: the rounding mode the instruction uses (its immediate,
truncation, or MXCSR.RC), and FTZ/DAZ only where the instruction reads them
according to the Intel SDM (``Instr.reads``). Where it does not, the
hardware profile's own rule applies — so a sweep under FTZ=1 of an
instruction documented to ignore FTZ tests that claim too.

An instruction the processor lacks (or that ``QFORMAT_CPU_DISABLE`` turns
off) is reported under ``skipped`` as "not available on this processor" and
is never counted as a pass: ``clean`` needs at least one case that ran.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .. import _native
from .._formats import FloatFormat, Format, format
from .backends import VerifyError
from .check import Checker, encode_options
from .classify import Tally, ValueTable
from .sampling import CHUNK_BITS, Case, chunked, exhaustive_f32, sample_inputs

__all__ = ["INSTRUCTIONS", "MODES", "Instr", "processor", "verify_cpu"]

ROUNDINGS = ("nearest_even", "down", "up", "toward_zero")     # MXCSR.RC 0..3


@dataclass(frozen=True)
class Instr:
    """One instruction (with its immediate) and what qformat should match."""

    label: str                 # "vcvtps2ph/imm3"
    mnemonic: str
    imm: int
    source: str                # "f32", "f64", "f16", "bf16" or "e4m3"
    target: str                # qformat format name
    profile: str
    feature: str
    reads: tuple               # MXCSR fields it consults (SDM): "rc", "ftz", "daz"
    rounding: Optional[str]    # fixed rounding (immediate, truncation), else MXCSR.RC
    overflow: Optional[str] = None     # the saturating (S) forms: "saturate"


def _instructions() -> dict:
    out = {}
    for imm in range(5):
        fixed = ROUNDINGS[imm] if imm < 4 else None
        reads = ("daz",) if imm < 4 else ("rc", "daz")
        out[f"vcvtps2ph/imm{imm}"] = Instr(f"vcvtps2ph/imm{imm}", "vcvtps2ph", imm, "f32",
                                           "fp16", "x86-f16c", "f16c", reads, fixed)
    sse = ("rc", "ftz", "daz")
    for name, src, dst in (("cvtsd2ss", "f64", "fp32"), ("cvtss2sd", "f32", "fp64")):
        out[name] = Instr(name, name, 0, src, dst, "x86-sse", "sse2", sse, None)
    # float -> int32 and (REX.W) int64: DAZ is read, FTZ is not (never tiny)
    for base, src in (("cvtss2si", "f32"), ("cvttss2si", "f32"), ("cvtsd2si", "f64"),
                      ("cvttsd2si", "f64")):
        trunc = base.startswith("cvtt")
        for suffix, target in (("", "int32"), ("64", "int64")):
            name = base + suffix
            out[name] = Instr(name, name, 0, src, target, "x86-sse", "sse2",
                              ("daz",) if trunc else ("rc", "daz"),
                              "toward_zero" if trunc else None)
    out["vcvtneps2bf16"] = Instr("vcvtneps2bf16", "vcvtneps2bf16", 0, "f32", "bf16",
                                 "x86-avx512bf16", "avx512bf16", (), None)
    out["vcvtps2phx"] = Instr("vcvtps2phx", "vcvtps2phx", 0, "f32", "fp16", "x86-avx512fp16",
                              "avx512fp16", ("rc", "daz"), None)
    out["vcvtsd2sh"] = Instr("vcvtsd2sh", "vcvtsd2sh", 0, "f64", "fp16", "x86-avx512fp16",
                             "avx512fp16", ("rc", "daz"), None)
    out.update(_half_sources())
    out.update(_documented_only())
    return out


def _half_sources() -> dict:
    """float16 sources (all 2^16 inputs in every mode): the exact widenings
    and AVX512_FP16's conversions to int32. Measured: none of them reads
    MXCSR.DAZ (a half subnormal widens to the exact float32 value under
    DAZ=1), so qformat is told nothing about DAZ and the DAZ=1 sweeps check
    that claim."""
    out = {}
    for name, profile, feature in (("vcvtph2ps", "x86-f16c", "f16c"),
                                   ("vcvtph2psx", "x86-avx512fp16", "avx512fp16"),
                                   ("vcvtsh2ss", "x86-avx512fp16", "avx512fp16")):
        out[name] = Instr(name, name, 0, "f16", "fp32", profile, feature, (), None)
    for name in ("vcvtsh2si", "vcvttsh2si"):
        trunc = name.startswith("vcvtt")
        out[name] = Instr(name, name, 0, "f16", "int32", "x86-avx512fp16", "avx512fp16",
                          () if trunc else ("rc",), "toward_zero" if trunc else None)
    return out


def _documented_only() -> dict:
    """Instructions whose profiles come from Intel's documentation alone
    (``verified: false``): AVX-NE-CONVERT and AVX10.2's FP8 conversions.
    They run where the processor has them; elsewhere they are reported as
    not available."""
    ne, fp8 = "x86-avxneconvert", "x86-avx10-fp8"
    out = {
        "vcvtneps2bf16-vex": Instr("vcvtneps2bf16-vex", "vcvtneps2bf16-vex", 0, "f32", "bf16",
                                   ne, "avxneconvert", (), None),
        "vbcstnesh2ps": Instr("vbcstnesh2ps", "vbcstnesh2ps", 0, "f16", "fp32", ne,
                              "avxneconvert", (), None),
        "vbcstnebf162ps": Instr("vbcstnebf162ps", "vbcstnebf162ps", 0, "bf16", "fp32", ne,
                                "avxneconvert", (), None),
        "vcvthf82ph": Instr("vcvthf82ph", "vcvthf82ph", 0, "e4m3", "fp16", fp8, "avx10.2", (),
                            None),
    }
    for base, target in (("vcvtph2bf8", "fp8_e5m2"), ("vcvtph2hf8", "fp8_e4m3fn")):
        for name, over in ((base, None), (base + "s", "saturate")):
            out[name] = Instr(name, name, 0, "f16", target, fp8, "avx10.2", (), None, over)
    return out


INSTRUCTIONS = _instructions()


@dataclass(frozen=True)
class Mode:
    """An MXCSR state: rounding field, FTZ, DAZ."""

    rc: int = 0
    ftz: bool = False
    daz: bool = False

    @property
    def label(self) -> str:
        return f"rc={ROUNDINGS[self.rc]},ftz={int(self.ftz)},daz={int(self.daz)}"

    @classmethod
    def parse(cls, text: str) -> Mode:
        """``"rc=up,ftz=1,daz=0"`` (any subset; rc by name or 0-3)."""
        kw: dict = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            if key == "rc":
                kw["rc"] = int(value) if value.isdigit() else ROUNDINGS.index(value) \
                    if value in ROUNDINGS else -1
                if not 0 <= kw["rc"] <= 3:
                    raise VerifyError(f"rc={value}: choose 0-3 or {', '.join(ROUNDINGS)}")
            elif key in ("ftz", "daz") and value in ("0", "1"):
                kw[key] = value == "1"
            else:
                raise VerifyError(f"--mode wants rc=..,ftz=0|1,daz=0|1; got {part!r}")
        return cls(**kw)


MODES = tuple(Mode(rc, ftz, daz) for rc in range(4) for ftz in (False, True)
              for daz in (False, True))


def processor() -> dict:
    """The processor model and the conversion-relevant flags (Linux
    /proc/cpuinfo; elsewhere what ``platform`` knows)."""
    model, flags = platform.processor(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.processor()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    flags = sorted(have & {"sse2", "f16c", "avx", "avx512f", "avx512vl",
                                           "avx512_bf16", "avx512_fp16", "avx_ne_convert"})
                    break
    except OSError:
        pass
    features = dict(_native.cpu_features())
    return {"model": model, "flags": flags, "features": features}


# ---------------------------------------------------------------------------
# inputs


def _f64_to_f32_sample(n: int, seed: int) -> np.ndarray:
    """float64 inputs for float64 -> float32: exact float32 ties and their
    float64 neighbours (normal and subnormal range), the overflow boundary,
    float64 subnormals, NaN payloads, signed zeros, infinities, raw bits."""
    rng = np.random.default_rng([seed, 64, 32])
    k = max(n // 8, 64)
    f = rng.integers(0, 0x7F800000, k, dtype=np.uint32).view(np.float32)
    nxt = np.nextafter(f, np.float32(np.inf))
    ties = (f.astype(np.float64) + nxt.astype(np.float64)) / 2
    sub = rng.integers(0, 0x00800001, k, dtype=np.uint32).view(np.float32).astype(np.float64)
    sub_ties = sub + 2.0 ** -150
    near = np.concatenate([np.nextafter(t, d) for t in (ties, sub_ties) for d in (np.inf, -np.inf)])
    fmax = float(np.finfo(np.float32).max)
    edge = np.array([fmax, fmax + 2.0 ** 103, fmax + 2.0 ** 104, 2.0 ** 128, 2.0 ** -126,
                     2.0 ** -149, 2.0 ** -150, 2.0 ** -151, 2.0 ** -126 - 2.0 ** -150,
                     2.0 ** -126 - 2.0 ** -151, 2.0 ** -126 - 2.0 ** -152], np.float64)
    edge = np.concatenate([edge, np.nextafter(edge, np.inf), np.nextafter(edge, -np.inf)])
    tiny64 = rng.integers(1, 1 << 52, k, dtype=np.uint64).view(np.float64)
    pay = rng.integers(1, 1 << 52, k, dtype=np.uint64) | np.uint64(0x7FF0000000000000)
    special = np.array([0.0, np.inf], np.float64)
    raw = rng.integers(0, 1 << 63, k, dtype=np.uint64).view(np.float64)
    x = np.concatenate([ties, sub_ties, near, edge, tiny64, pay.view(np.float64), special, raw])
    x = np.concatenate([x, -x])
    rng.shuffle(x)
    return np.ascontiguousarray(x[:max(n, 64)] if x.size > n else x)


def _f32_sample(n: int, seed: int) -> np.ndarray:
    """float32 inputs for float32 -> float64: raw patterns, every class."""
    rng = np.random.default_rng([seed, 32, 64])
    raw = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    edges = np.array([0, 1, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x7F800000, 0x7F800001,
                      0x7FC00000, 0x7FFFFFFF, 0x00400000], np.uint32)
    x = np.concatenate([edges, edges | np.uint32(0x80000000), raw])[:max(n, 64)]
    return np.ascontiguousarray(x.view(np.float32))


def _all_patterns(source: str) -> np.ndarray:
    """Every pattern of a 16- or 8-bit source format, as that format's dtype."""
    import ml_dtypes

    dtype = {"f16": np.dtype(np.float16), "bf16": np.dtype(ml_dtypes.bfloat16),
             "e4m3": np.dtype(ml_dtypes.float8_e4m3fn)}[source]
    return np.arange(1 << (8 * dtype.itemsize), dtype=np.uint32).astype(
        f"u{dtype.itemsize}").view(dtype)


def _inputs(ins: Instr, exhaustive: bool, samples: int, seed: int, chunk: int) -> Case:
    fmt = format(ins.target)
    direction = f"{ins.source}->X"
    if ins.source not in ("f32", "f64"):             # narrow sources: every pattern, always
        x = _all_patterns(ins.source)
        return Case(fmt, direction, x.size, chunked(x, chunk), chunk)
    if ins.source == "f32" and exhaustive:
        return Case(fmt, direction, 1 << 32, exhaustive_f32(chunk), chunk)
    if ins.target == "fp32":
        x = _f64_to_f32_sample(samples, seed)
    elif ins.target == "fp64":
        x = _f32_sample(samples, seed)
    else:
        x = sample_inputs(fmt, ins.source, samples, seed)
    return Case(fmt, direction, x.size, chunked(x, chunk), chunk)


# ---------------------------------------------------------------------------
# the instruction side and the checker


class _Backend:
    """Adapts one instruction × mode to ``Checker``'s backend interface."""

    name = "cpu"
    device = "cpu"

    def __init__(self, ins: Instr, mode: Mode) -> None:
        self.ins, self.mode = ins, mode

    def encoder(self, fmt: Format, source: str, n: int) -> Callable[[np.ndarray], np.ndarray]:
        ins, mode = self.ins, self.mode
        word_in = {"f32": np.uint32, "f64": np.uint64, "e4m3": np.uint8}.get(ins.source,
                                                                             np.uint16)
        out_dt = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}[fmt.bits]
        buf = np.empty(n, out_dt)

        def run(x: np.ndarray) -> np.ndarray:
            out = buf[:x.shape[0]]
            _native.cpu_convert(ins.mnemonic, np.ascontiguousarray(x).view(word_in), out,
                                imm=ins.imm, rc=mode.rc, ftz=mode.ftz, daz=mode.daz)
            return out
        return run


class _ViewTable:
    """``ValueTable`` for 32/64-bit targets, whose codes are too many to list:
    values are read by viewing the words as floats."""

    class _Values:
        def __init__(self, word_float: Any, dtype: np.dtype) -> None:
            self.word_float, self.dtype = word_float, dtype

        def __getitem__(self, codes: np.ndarray) -> np.ndarray:
            return codes.view(self.word_float).astype(self.dtype)

    def __init__(self, fmt: FloatFormat) -> None:
        wf = np.float32 if fmt.bits == 32 else np.float64
        dtype = np.dtype(np.float64)
        self.values = self._Values(wf, dtype)
        fi = np.finfo(wf)
        self.max, self.tiny = dtype.type(fi.max), dtype.type(fi.tiny)
        self.signed = True


class _CpuChecker(Checker):
    """``Checker`` with the instruction as "theirs" and a value view instead
    of a code table for 32/64-bit float targets."""

    def __init__(self, case: Case, ins: Instr, mode: Mode) -> None:
        fmt = self.fmt = case.fmt
        self.case, self.tally = case, Tally()
        self.decode_dir = False
        self.theirs = _Backend(ins, mode).encoder(fmt, ins.source, case.chunk)
        self.word = np.dtype(f"u{np.dtype(fmt.storage_dtype).itemsize}")
        self.ours_buf = np.empty(case.chunk, fmt.storage_dtype)
        self.ne = np.empty(case.chunk, bool)
        self.kw = encode_options(fmt, ins.profile, _options(ins, mode))
        self.table: Any = None
        if isinstance(fmt, FloatFormat):
            if fmt.bits <= 16:
                self.table = ValueTable(fmt, np.dtype(np.float64 if ins.source == "f64"
                                                  else np.float32))
            else:
                self.table = _ViewTable(fmt)


def _options(ins: Instr, mode: Mode) -> dict:
    """What qformat is told: the instruction's rounding, and the MXCSR bits
    it reads (the rest is the profile's rule)."""
    o: dict = {}
    if ins.overflow is not None:
        o["overflow"] = ins.overflow
    if ins.rounding is not None:
        o["rounding"] = ins.rounding
    elif "rc" in ins.reads:
        o["rounding"] = ROUNDINGS[mode.rc]
    if "ftz" in ins.reads:
        o["ftz"] = mode.ftz
    if "daz" in ins.reads:
        o["daz"] = mode.daz
    return o


def verify_cpu(instructions: Optional[list] = None, modes: Optional[list] = None, *,
               exhaustive: bool = False, samples: int = 100_000, seed: int = 0,
               chunk_bits: int = CHUNK_BITS, progress: Optional[Any] = None) -> dict:
    """Run each instruction (default: all) under each MXCSR mode (default:
    all 16) against qformat's hardware profiles and return the report.

    ``instructions`` are labels of ``INSTRUCTIONS`` (``"vcvtps2ph"`` alone
    means every immediate); ``modes`` are :class:`Mode` values or strings
    such as ``"rc=up,ftz=1"``. ``report["clean"]`` is True only when at least
    one case ran and none mismatched; instructions the processor lacks are
    listed under ``skipped`` as "not available on this processor".
    """
    names = _expand(instructions)
    mode_list = [m if isinstance(m, Mode) else Mode.parse(m) for m in (modes or MODES)]
    feats = dict(_native.cpu_features())
    chunk = 1 << chunk_bits
    if exhaustive:
        samples = max(samples, 1 << 20)
    t0 = time.perf_counter()
    results, skipped = [], []
    for name in names:
        ins = INSTRUCTIONS[name]
        if not feats.get(ins.feature, False):
            skipped.append({"instruction": name, "mode": None,
                            "reason": f"{ins.mnemonic} is not available on this processor "
                                      f"(needs {ins.feature})"})
            continue
        for mode in mode_list:
            case = _inputs(ins, exhaustive, samples, seed, chunk)
            label = f"{name} {mode.label}"
            if progress is not None:
                progress.start(label, case.total)
            checker = _CpuChecker(case, ins, mode)
            r = checker.run(progress.advance if progress is not None else _nothing)
            r.update(instruction=name, mode=mode.label, profile=ins.profile,
                     options={k: v for k, v in _options(ins, mode).items()})
            # no square brackets: the CLI table would read them as markup
            r["direction"] = f"{name} {mode.label} {r['direction']}"
            results.append(r)
            if progress is not None and hasattr(progress, "finish"):
                progress.finish(r)
    return _report(results, skipped, exhaustive, samples, seed, time.perf_counter() - t0)


def _expand(instructions: Optional[list]) -> list:
    if not instructions:
        return list(INSTRUCTIONS)
    out = []
    for n in instructions:
        hits = [k for k in INSTRUCTIONS if k == n or k.split("/")[0] == n]
        if not hits:
            raise VerifyError(f"unknown instruction {n!r}; choose one of "
                              f"{', '.join(INSTRUCTIONS)}")
        out += [h for h in hits if h not in out]
    return out


def _nothing(_: int) -> None:
    return None


def _report(results: list, skipped: list, exhaustive: bool, samples: int, seed: int,
            seconds: float) -> dict:

    mism = sum(r["mismatches"] for r in results)
    warnings = [s["reason"] for s in skipped if "not available" in s["reason"]]
    cpu = processor()
    return {
        "backend": "cpu", "device": "cpu", "profile": "x86-*",
        "profile_rules": "x86 hardware profiles", "warnings": warnings, "options": {},
        "mode": "exhaustive" if exhaustive else "sampled",
        "samples": None if exhaustive else samples, "seed": seed,
        "versions": {"qformat": _native.__version__, "python": platform.python_version(),
                     "platform": platform.platform(), "cpu": cpu["model"]},
        "processor": cpu,
        "inputs": sum(r["inputs"] for r in results), "mismatches": mism,
        "ran": len(results), "clean": mism == 0 and bool(results),
        "seconds": round(seconds, 2), "cases": results, "skipped": skipped,
    }
