"""qformat against the physical limit, in one run: hand-written streaming
loops (``benches/limits.c``: an OpenMP memcpy, the bf16 round-to-nearest-even
bit trick, table decode) compiled here with gcc, plus CPFloat, torch CPU,
NumPy and ml_dtypes, all on the same float32 values at the same thread count.

    python benches/bench_limits.py [--log2n 25] [--repeat 5] [--threads N]
    CPFLOAT_LIB=/path/to/libcpfloat.so python benches/bench_limits.py
    python benches/bench_limits.py --scaling all --svg docs/img/thread-scaling.svg

Every time is the best of ``--repeat`` calls after a warm-up. ``ratio`` is the
reference's time divided by qformat's (above 1: qformat is faster); the
``limit`` column divides the hand loop's time by qformat's (1.0: at the
limit). The hand loops are skipped when gcc is missing, CPFloat unless
``CPFLOAT_LIB`` names its shared library (build it outside this repository:
``make lib`` in a CPFloat checkout gives ``build/lib/libcpfloat.so``).

Allocating rows (a call that returns a fresh array) pay the operating
system's first touch of the result's pages, and how much depends on what the
process allocated and freed before (the allocator may hand back pages already
touched). So each allocating row runs in a fresh child process, where
qformat, torch and NumPy/ml_dtypes are called in turn, the order rotated each
round (``--alloc-rounds``); the row prints each one's median with its spread
(min-max), the ratio of the medians and the range of the per-round ratios
(``--alloc-only`` prints these rows alone).

Threads: qformat's pool (rayon) reads ``RAYON_NUM_THREADS`` when it starts,
so the thread count is fixed per process; ``--threads`` sets it (and torch's
and OpenMP's) before anything starts. The scaling table re-runs this script
in a child process per thread count (``--scaling 1,2,4``, or ``all``: powers
of two up to every core, and every core); ``--svg PATH`` also draws it as a
figure (throughput against threads, one line per case).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent


def set_threads(n: int) -> None:
    """Fix every library's thread count before any of them starts a pool."""
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    # OpenMP threads that spin at barriers starve the other pools' threads
    # (torch, the hand loops, rayon) on a small or shared machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--scaling", default="1,2",
                    help="thread counts of the scaling table: '1,2,4', 'all' (powers of "
                         "two up to every core, and every core) or '' to skip")
    ap.add_argument("--svg", default=None, metavar="PATH",
                    help="also write the scaling table as an SVG figure")
    ap.add_argument("--only-scaling-row", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only-alloc-row", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--alloc-rounds", type=int, default=11,
                    help="calls of each contender per allocating row (order rotated "
                         "each round; median and spread printed)")
    ap.add_argument("--scaling-only", action="store_true",
                    help="only the scaling table (and its --svg figure)")
    ap.add_argument("--quick", action="store_true",
                    help="the main table only (no quantizers, no scaling)")
    ap.add_argument("--alloc-only", action="store_true",
                    help="only the allocating rows (each in a fresh process)")
    ap.add_argument("--small-only", action="store_true",
                    help="only the 2^20-element rows (the per-call set-up)")
    return ap.parse_args()


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None:
    set_threads(ARGS.threads)

import ml_dtypes  # noqa: E402  (after the thread variables are set)
import numpy as np  # noqa: E402
import qformat as qf  # noqa: E402
import torch  # noqa: E402
from _svg import line_chart  # noqa: E402
from _timing import best_ms, rotated_rounds_ms  # noqa: E402


def build_limits() -> Optional[ctypes.CDLL]:
    """Compile limits.c into a temporary shared library (None without gcc)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        print("gcc not found: the hand-written limits are skipped")
        return None
    out = Path(tempfile.mkdtemp(prefix="qformat-limits-")) / "liblimits.so"
    cmd = [gcc, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC",
           str(HERE / "limits.c"), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"gcc failed, the hand-written limits are skipped:\n{r.stderr}")
        return None
    os.environ["QFORMAT_LIMITS_LIB"] = str(out)  # the scaling children load it, not rebuild it
    lib = ctypes.CDLL(str(out))
    return lib


def load_limits() -> Optional[ctypes.CDLL]:
    """The hand loops the parent built (None without them)."""
    path = os.environ.get("QFORMAT_LIMITS_LIB")
    return ctypes.CDLL(path) if path else None


class CPFloat:
    """CPFloat's ``cpfloatf`` through ctypes (its ``optstruct`` mirrored)."""

    class Opts(ctypes.Structure):
        _fields_ = [("format", ctypes.c_char * 15), ("precision", ctypes.c_uint),
                    ("emin", ctypes.c_int), ("emax", ctypes.c_int),
                    ("explim", ctypes.c_int), ("infinity", ctypes.c_int),
                    ("round", ctypes.c_int), ("saturation", ctypes.c_int),
                    ("subnormal", ctypes.c_int), ("flip", ctypes.c_int),
                    ("p", ctypes.c_double), ("bitseed", ctypes.c_void_p),
                    ("randseedf", ctypes.c_void_p), ("randseed", ctypes.c_void_p)]

    NEAREST_EVEN, TOWARD_ZERO, STOCHASTIC = 1, 4, 5

    def __init__(self, path: str) -> None:
        self.lib = ctypes.CDLL(path)
        self.lib.cpfloatf.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                      ctypes.POINTER(CPFloat.Opts)]
        self.lib.cpfloatf.restype = ctypes.c_int

    def rounder(self, precision: int, emin: int, emax: int, mode: int,
                x: np.ndarray, out: np.ndarray) -> Callable[[], object]:
        """A call rounding ``x`` into ``out`` (precision counts the implicit bit)."""
        o = CPFloat.Opts(format=b"custom", precision=precision, emin=emin, emax=emax,
                         explim=1, infinity=1, round=mode, saturation=0, subnormal=1,
                         flip=0, p=0.0)
        xp, op = x.ctypes.data, out.ctypes.data
        n = x.size

        def call() -> object:
            if self.lib.cpfloatf(op, xp, n, ctypes.byref(o)) != 0:
                raise RuntimeError("cpfloatf rejected its options")
            return out
        return call


def ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


class Table:
    """Rows of (case, qformat ms, [(reference, ms)]) printed with ratios."""

    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.rows: list[tuple[str, float, list[tuple[str, float]]]] = []

    def time(self, fn: Optional[Callable[[], object]]) -> Optional[float]:
        return None if fn is None else best_ms(fn, self.repeat)

    def add(self, case: str, ours: Callable[[], object],
            refs: list[tuple[str, Optional[Callable[[], object]]]]) -> None:
        ms = best_ms(ours, self.repeat)
        timed = [(name, t) for name, fn in refs if (t := self.time(fn)) is not None]
        self.rows.append((case, ms, timed))
        self.print_row(self.rows[-1])

    @staticmethod
    def print_row(row: tuple[str, float, list[tuple[str, float]]]) -> None:
        case, ms, refs = row
        cells = "; ".join(f"{name} {fmt_ms(t)} ms ({t / ms:.2f}x)" for name, t in refs)
        print(f"{case:42s} {fmt_ms(ms):>8s} ms | {cells}", flush=True)


def fmt_ms(ms: float) -> str:
    """Milliseconds with two decimals, or three significant digits below
    1 ms (the 2^20 and fixed-cost rows)."""
    return f"{ms:.2f}" if ms >= 1 else f"{ms:.3g}"


def main_table(t: Table, x: np.ndarray, lim: Optional[ctypes.CDLL],
               cpf: Optional[CPFloat]) -> None:
    n = x.size
    xt = torch.from_numpy(x)
    w32 = x.view(np.uint32)
    u16, u8, f32 = np.empty(n, np.uint16), np.empty(n, np.uint8), np.empty(n, np.float32)
    r32 = np.empty(n, np.float32)

    def hand(name: str, *a: Any) -> Optional[Callable[[], object]]:
        if lim is None:
            return None
        fn = getattr(lim, name)
        return lambda: fn(*a)

    def cp(prec: int, emin: int, emax: int, mode: int) -> Optional[Callable[[], object]]:
        return None if cpf is None else cpf.rounder(prec, emin, emax, mode, x, r32)

    nb = ctypes.c_size_t(n)
    memcpy = hand("lim_copy", ptr(f32), ptr(x), ctypes.c_size_t(4 * n))
    t.add("memcpy of the float32 array (4 B/elt)", lambda: np.copyto(f32, x),
          [("OpenMP memcpy", memcpy)])
    t.add("encode bf16 out=u16", lambda: qf.encode(x, "bf16", out=u16),
          [("hand loop", hand("lim_bf16_encode", ptr(u16), ptr(w32), nb)),
           ("OpenMP memcpy 4 B/elt", memcpy),
           ("ml_dtypes astype", lambda: x.astype(ml_dtypes.bfloat16))])
    t.add("encode fp8_e4m3fn out=u8", lambda: qf.encode(x, "fp8_e4m3fn", out=u8),
          [("OpenMP memcpy 4 B/elt", memcpy),
           ("torch .to(float8_e4m3fn)", lambda: xt.to(torch.float8_e4m3fn))])
    t.add("round bf16 out=f32", lambda: qf.round(x, "bf16", out=f32),
          [("hand loop", hand("lim_bf16_round", ptr(r32), ptr(w32), nb)),
           ("CPFloat", cp(8, -126, 127, CPFloat.NEAREST_EVEN)),
           ("OpenMP memcpy", memcpy),
           ("torch .to(bf16).float()", lambda: xt.to(torch.bfloat16).float())])
    t.add("round bf16 toward zero out=f32",
          lambda: qf.round(x, "bf16", rounding="toward_zero", out=f32),
          [("hand loop", hand("lim_bf16_round_rtz", ptr(r32), ptr(w32), nb)),
           ("CPFloat", cp(8, -126, 127, CPFloat.TOWARD_ZERO))])
    e5m3 = qf.FloatFormat(5, 3)
    for name, fmt, prec, emin, emax in (("fp16", "fp16", 11, -14, 15),
                                        ("e4m3 (fp8_e4m3_ieee)", "fp8_e4m3_ieee", 4, -6, 7),
                                        ("custom e5m3", e5m3, 4, -14, 15)):
        t.add(f"round {name} nearest even out=f32", lambda fmt=fmt: qf.round(x, fmt, out=f32),
              [("CPFloat", cp(prec, emin, emax, CPFloat.NEAREST_EVEN)),
               ("OpenMP memcpy", memcpy)])
    t.add("round bf16 stochastic out=f32",
          lambda: qf.round(x, "bf16", rounding="stochastic", seed=1, out=f32),
          [("hand loop (SplitMix64 draw)",
            hand("lim_bf16_round_stochastic", ptr(r32), ptr(w32), nb, ctypes.c_uint64(1))),
           ("CPFloat (PCG)", cp(8, -126, 127, CPFloat.STOCHASTIC)),
           ("OpenMP memcpy", memcpy)])
    codes8 = qf.encode(x, "fp8_e4m3fn")
    table8 = qf.decode(np.arange(256, dtype=np.uint8), "fp8_e4m3fn",
                       dtype=np.float32).view(np.uint32).copy()
    t.add("decode fp8_e4m3fn -> f32 out=", lambda: qf.decode(codes8, "fp8_e4m3fn",
                                                            dtype=np.float32, out=f32),
          [("hand table loop", hand("lim_decode_u8", ptr(r32), ptr(codes8), ptr(table8), nb)),
           ("ml_dtypes astype(f32)", lambda: codes8.view(ml_dtypes.float8_e4m3fn).astype(
               np.float32))])
    codes16 = qf.encode(x, "bf16")
    t.add("decode bf16 -> f32 out=", lambda: qf.decode(codes16, "bf16", dtype=np.float32,
                                                      out=f32),
          [("hand shift loop", hand("lim_decode_bf16", ptr(r32), ptr(codes16), nb)),
           ("torch bf16 .float()", lambda: torch.from_numpy(codes16.view(np.int16)).view(
               torch.bfloat16).float())])
    codes_h = qf.encode(x, "fp16")
    t.add("decode fp16 -> f32 out=", lambda: qf.decode(codes_h, "fp16", dtype=np.float32,
                                                      out=f32),
          [("numpy astype(f32)", lambda: codes_h.view(np.float16).astype(np.float32))])


SMALL_LOG2N = 20


def small_table(t: Table, x: np.ndarray, lim: Optional[ctypes.CDLL]) -> None:
    """The per-call set-up: the same ``out=`` calls on the first 2^20
    elements (4 MiB in, mostly in cache), where qformat's fixed costs
    (argument checks, route choice, thread wake-up) would show against the
    hand loop; the ratio should be close to the full-size row's. Best of 20
    times ``--repeat``, since each call is short."""
    n = min(x.size, 1 << SMALL_LOG2N)
    xs = x[:n]
    ws = xs.view(np.uint32)
    u16, u8, r32 = np.empty(n, np.uint16), np.empty(n, np.uint8), np.empty(n, np.float32)
    nb = ctypes.c_size_t(n)

    def hand(name: str, *a: Any) -> Optional[Callable[[], object]]:
        return None if lim is None else (lambda: getattr(lim, name)(*a))

    small = Table(t.repeat * 20)
    tag = f"2^{n.bit_length() - 1}"
    small.add(f"{tag}: encode bf16 out=u16", lambda: qf.encode(xs, "bf16", out=u16),
              [("hand loop", hand("lim_bf16_encode", ptr(u16), ptr(ws), nb))])
    small.add(f"{tag}: encode fp8_e4m3fn out=u8", lambda: qf.encode(xs, "fp8_e4m3fn", out=u8),
              [("hand bf16 loop", hand("lim_bf16_encode", ptr(u16), ptr(ws), nb))])
    small.add(f"{tag}: round bf16 out=f32", lambda: qf.round(xs, "bf16", out=r32),
              [("hand loop", hand("lim_bf16_round", ptr(r32), ptr(ws), nb))])
    small.add(f"{tag}: encode bf16, 16 elements (fixed cost)",
              lambda: qf.encode(xs[:16], "bf16", out=u16[:16]),
              [("hand loop", hand("lim_bf16_encode", ptr(u16), ptr(ws), ctypes.c_size_t(16)))])
    t.rows.extend(small.rows)


def quant_table(t: Table, x: np.ndarray, lim: Optional[ctypes.CDLL]) -> None:
    rows = 4096
    w = x.reshape(rows, -1)
    wt = torch.from_numpy(w)
    f32 = np.empty(x.size, np.float32)
    scale = float(np.abs(x).max()) / 127
    hand = None if lim is None else (
        lambda: lim.lim_fake_quant_int8(ptr(f32), ptr(x), ctypes.c_size_t(x.size),
                                        ctypes.c_float(scale)))
    t.add("fake_quantize int8 per-tensor", lambda: qf.fake_quantize(w, "int8"),
          [("hand loop (given scale)", hand),
           ("torch fake_quantize_per_tensor", lambda: torch.fake_quantize_per_tensor_affine(
               wt, scale, 0, -127, 127)),
           ("qf.round bf16 (same pass)", lambda: qf.round(w, "bf16")),
           ("qf.round int8", lambda: qf.round(w, "int8"))])
    sc0 = torch.from_numpy(np.abs(w).max(axis=1) / 127).float()
    zp0 = torch.zeros(rows, dtype=torch.int32)
    t.add("fake_quantize int8 per-channel axis 0", lambda: qf.fake_quantize(w, "int8", axis=0),
          [("torch fake_quantize_per_channel",
            lambda: torch.fake_quantize_per_channel_affine(wt, sc0, zp0, 0, -127, 127))])
    sc1 = torch.from_numpy(np.abs(w).max(axis=0) / 127).float()
    zp1 = torch.zeros(w.shape[1], dtype=torch.int32)
    t.add("fake_quantize int8 per-channel axis -1", lambda: qf.fake_quantize(w, "int8", axis=-1),
          [("torch fake_quantize_per_channel",
            lambda: torch.fake_quantize_per_channel_affine(wt, sc1, zp1, 1, -127, 127)),
           ("qformat axis 0", lambda: qf.fake_quantize(w, "int8", axis=0))])
    t.add("quantize int8 per-channel axis -1", lambda: qf.quantize(w, "int8", axis=-1),
          [("torch quantize_per_channel", torch_quantize_per_channel(wt, sc1, zp1, 1)),
           ("qformat axis 0", lambda: qf.quantize(w, "int8", axis=0))])
    t.add("qparams int8 per-channel axis -1", lambda: qf.qparams(w, "int8", axis=-1),
          [("numpy abs().max(axis=0)", lambda: np.abs(w).max(axis=0)),
           ("torch aminmax(dim=0)", lambda: torch.aminmax(wt, dim=0)),
           ("qformat axis 0", lambda: qf.qparams(w, "int8", axis=0))])
    int8_modes(t, w)
    t.add("fake_quantize fp8_e4m3fn per-tensor", lambda: qf.fake_quantize(w, "fp8_e4m3fn"),
          [("qf.round fp8_e4m3fn", lambda: qf.round(w, "fp8_e4m3fn"))])
    for mode, seed in (("toward_zero", None), ("stochastic", 1)):
        t.add(f"fake_quantize fp8_e4m3fn per-tensor {mode}",
              lambda m=mode, s=seed: qf.fake_quantize(w, "fp8_e4m3fn", rounding=m, seed=s),
              [(f"qf.round fp8_e4m3fn {mode}",
                lambda m=mode, s=seed: qf.round(w, "fp8_e4m3fn", rounding=m, seed=s))])
    # The mxfp8/mxfp4 recipes fix their rounding, so the modes go through
    # the same layout spelled out: groups of 32 with e8m0 scales.
    mx = {"scale_format": "fp8_e8m0fnu", "group_size": 32}
    for fmt, elem in (("mxfp8", "fp8_e4m3fn"), ("mxfp4", "fp4_e2m1fn")):
        for mode, seed in (("toward_zero", None), ("stochastic", 1)):
            t.add(f"fake_quantize {fmt} (groups of 32) {mode}",
                  lambda e=elem, m=mode, s=seed: qf.fake_quantize(w, e, rounding=m, seed=s, **mx),
                  [(f"qformat {fmt} nearest_even", lambda e=elem: qf.fake_quantize(w, e, **mx))])
    t.add("fake_quantize mxfp8 by its recipe name", lambda: qf.fake_quantize(w, "mxfp8"),
          [("quantize + dequantize", lambda: qf.quantize(w, "mxfp8").dequantize()),
           ("torchao MXTensor.to_mx + dequantize", torchao_mx_round_trip(wt))])
    dequantize_rows(t, w)
    w64 = w[: rows // 4].astype(np.float64)
    t.add("fake_quantize fp8_e4m3fn float64 (2^-2 size) stochastic",
          lambda: qf.fake_quantize(w64, "fp8_e4m3fn", rounding="stochastic", seed=1),
          [("qformat float64 nearest_even", lambda: qf.fake_quantize(w64, "fp8_e4m3fn"))])


def dequantize_rows(t: Table, w: np.ndarray) -> None:
    """``QuantizedArray.dequantize`` (codes and scales back to float32)
    against the same arithmetic written in NumPy and torch, and MX codes
    against torchao's own dequantize of its MXTensor."""
    qi = qf.quantize(w, "int8")
    ci, si = qi.values, np.float32(qi.scale)
    cit = torch.from_numpy(ci)
    t.add("dequantize int8 per-tensor codes", lambda: qi.dequantize(),
          [("NumPy codes.astype(f32) * scale", lambda: ci.astype(np.float32) * si),
           ("torch codes.float() * scale", lambda: cit.float() * float(si))])
    qm = qf.quantize(w, "mxfp8")
    mx = torchao_mx_round_trip(torch.from_numpy(w), dequantize_only=True)
    t.add("dequantize mxfp8 codes", lambda: qm.dequantize(),
          [("torchao MXTensor.dequantize", mx)])


def torch_quantize_per_channel(wt: Any, scales: Any, zps: Any, axis: int
                               ) -> Callable[[], object]:
    """torch's ``quantize_per_channel`` to qint8 (codes, as
    ``qf.quantize`` makes), with its deprecation warning silenced."""
    import warnings

    s, z = scales.double(), zps.long()

    def run() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.quantize_per_channel(wt, s, z, axis, torch.qint8)
    return run


def torchao_mx_round_trip(wt: Any, dequantize_only: bool = False
                          ) -> Optional[Callable[[], object]]:
    """torchao's MXFP8 quantize-dequantize on CPU (the same values as
    qformat's mxfp8 recipe), or with ``dequantize_only`` the dequantize of
    an MXTensor made once; None without torchao."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.prototype.mx_formats.mx_tensor import MXTensor
    except ImportError:
        return None
    if dequantize_only:
        m = MXTensor.to_mx(wt, torch.float8_e4m3fn, 32)
        return lambda: m.dequantize(torch.float32)
    return lambda: MXTensor.to_mx(wt, torch.float8_e4m3fn, 32).dequantize(torch.float32)


def int8_modes(t: Table, w: np.ndarray) -> None:
    """int8 toward_zero and stochastic against nearest even in the same run,
    per tensor and per channel, fused and as codes."""
    for layout, kw in (("per-tensor", {}), ("per-channel axis 0", {"axis": 0})):
        for mode, seed in (("toward_zero", None), ("stochastic", 1)):
            t.add(f"fake_quantize int8 {layout} {mode}",
                  lambda m=mode, s=seed, k=kw: qf.fake_quantize(w, "int8", rounding=m, seed=s, **k),
                  [("qformat nearest_even", lambda k=kw: qf.fake_quantize(w, "int8", **k))])
    for mode, seed in (("toward_zero", None), ("stochastic", 1)):
        t.add(f"quantize int8 per-tensor {mode}",
              lambda m=mode, s=seed: qf.quantize(w, "int8", rounding=m, seed=s),
              [("qformat nearest_even", lambda: qf.quantize(w, "int8"))])


def alloc_cases(x: np.ndarray) -> dict[str, list[tuple[str, Callable[[], object]]]]:
    """The allocating rows: qformat first, then its references, each a call
    that returns a fresh array (encode: the storage words; round: float32)."""
    xt = torch.from_numpy(x)
    cases: dict[str, list[tuple[str, Callable[[], object]]]] = {}
    for name, tdt, ndt in (("bf16", torch.bfloat16, ml_dtypes.bfloat16),
                           ("fp16", torch.float16, np.float16),
                           ("fp8_e4m3fn", torch.float8_e4m3fn, ml_dtypes.float8_e4m3fn)):
        cases[f"allocating encode {name}"] = [
            ("qformat", lambda f=name: qf.encode(x, f)),
            ("torch .to()", lambda d=tdt: xt.to(d)),
            ("numpy/ml_dtypes astype", lambda d=ndt: x.astype(d))]
    for name, tdt, ndt in (("bf16", torch.bfloat16, ml_dtypes.bfloat16),
                           ("fp8_e4m3fn", torch.float8_e4m3fn, ml_dtypes.float8_e4m3fn)):
        cases[f"allocating round {name} (f32 out)"] = [
            ("qformat", lambda f=name: qf.round(x, f)),
            ("torch .to().float()", lambda d=tdt: xt.to(d).float()),
            ("numpy/ml_dtypes astype twice", lambda d=ndt: x.astype(d).astype(np.float32))]
    return cases


def alloc_row(x: np.ndarray, case: str) -> None:
    """One allocating row, in this fresh process: every call's time in ms,
    by contender (printed for the parent as ``ALLOC name=t1,t2,...;...``)."""
    contenders = alloc_cases(x)[case]
    rounds = ARGS.alloc_rounds if ARGS else 11
    times = rotated_rounds_ms([fn for _, fn in contenders], rounds)
    print("ALLOC " + ";".join(f"{name}=" + ",".join(f"{m:.3f}" for m in ms)
                              for (name, _), ms in zip(contenders, times)))


def alloc_cell(name: str, ms: list[float], ours: list[float]) -> str:
    """A reference's median [min-max], then the ratio of the medians and the
    range of the per-round ratios (its call against qformat's in the same
    round, which a load that comes and goes touches alike)."""
    rounds = [r / q for r, q in zip(ms, ours)]
    return (f"{name} {statistics.median(ms):.2f} [{min(ms):.2f}-{max(ms):.2f}] "
            f"({statistics.median(ms) / statistics.median(ours):.2f}x; per round "
            f"{min(rounds):.2f}-{max(rounds):.2f}x)")


def alloc_table(t: Table) -> None:
    """The allocating rows, each measured in a fresh child process (see the
    module's docstring): median [min-max] of each contender, ratio of the
    medians (reference/qformat), in ``t``'s rows with qformat's median."""
    assert ARGS is not None
    print(f"allocating rows: a fresh process each, {ARGS.alloc_rounds} rounds in rotated "
          "order, median [min-max]")
    for case in alloc_cases(np.zeros(1, np.float32)):
        cmd = [sys.executable, __file__, "--threads", str(ARGS.threads), "--log2n",
               str(ARGS.log2n), "--alloc-rounds", str(ARGS.alloc_rounds),
               "--only-alloc-row", case]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        line = next(s for s in r.stdout.splitlines() if s.startswith("ALLOC "))
        runs = [(name, [float(m) for m in ms.split(",")])
                for name, ms in (c.split("=") for c in line[6:].split(";"))]
        (_, ours), refs = runs[0], runs[1:]
        mine = statistics.median(ours)
        cells = "; ".join(alloc_cell(name, ms, ours) for name, ms in refs)
        print(f"{case:42s} {mine:8.2f} ms [{min(ours):.2f}-{max(ours):.2f}] | {cells}",
              flush=True)
        t.rows.append((case, mine, [(name, statistics.median(ms)) for name, ms in refs]))


SCALING_CASES = ("memcpy", "encode bf16", "round bf16", "round bf16 stochastic",
                 "round fp8_e4m3fn")


def scaling_row(x: np.ndarray, threads: int) -> None:
    """One line of the scaling table (run in a child with its thread count).
    memcpy is the OpenMP copy of the hand loops at the same thread count
    (NumPy's copy, single-threaded, without gcc)."""
    u16, f32 = np.empty(x.size, np.uint16), np.empty(x.size, np.float32)
    lim = load_limits()
    if lim is not None:
        lim.lim_threads(threads)
    size = ctypes.c_size_t(4 * x.size)

    def memcpy() -> object:
        return np.copyto(f32, x) if lim is None else lim.lim_copy(ptr(f32), ptr(x), size)
    fns: list[Callable[[], object]] = [
        memcpy,
        lambda: qf.encode(x, "bf16", out=u16),
        lambda: qf.round(x, "bf16", out=f32),
        lambda: qf.round(x, "bf16", rounding="stochastic", seed=1, out=f32),
        lambda: qf.round(x, "fp8_e4m3fn", out=f32),
    ]
    ms = [best_ms(fn, ARGS.repeat if ARGS else 5) for fn in fns]
    print("ROW " + ";".join(f"{name}={m:.3f}" for name, m in zip(SCALING_CASES, ms)))


def thread_counts(spec: str) -> list[int]:
    """``'1,2,4'`` as a list; ``'all'``: 1, 2, 4, … below the core count, then every core."""
    if spec.strip() != "all":
        return [int(c) for c in spec.split(",") if c]
    cores = os.cpu_count() or 1
    counts = [1 << k for k in range(cores.bit_length()) if 1 << k < cores]
    return counts + [cores]


def scaling_table(counts: list[int]) -> dict[str, list[float]]:
    """Throughput (Gelem/s) against thread count, one child process per
    count; returns it by case, in the order of ``counts``."""
    assert ARGS is not None
    n = 1 << ARGS.log2n
    print(f"\nthread scaling (Gelem/s, 2^{ARGS.log2n} float32, best of {ARGS.repeat})")
    print(f"{'threads':>7s} " + " ".join(f"{h:>22s}" for h in SCALING_CASES))
    rates: dict[str, list[float]] = {case: [] for case in SCALING_CASES}
    for k in counts:
        cmd = [sys.executable, __file__, "--threads", str(k), "--log2n", str(ARGS.log2n),
               "--repeat", str(ARGS.repeat), "--only-scaling-row"]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        line = next(s for s in r.stdout.splitlines() if s.startswith("ROW "))
        for name, ms in (c.split("=") for c in line[4:].split(";")):
            rates[name].append(n / float(ms) / 1e6)
        print(f"{k:7d} " + " ".join(f"{rates[c][-1]:22.2f}" for c in SCALING_CASES))
    return rates


def write_scaling_svg(path: str, counts: list[int], rates: dict[str, list[float]]) -> None:
    """The scaling table as a figure: Gelem/s against threads, a line per case."""
    cpu = cpu_name()
    title = f"{cpu[:48]}, {os.cpu_count()} cores: 2^{ARGS.log2n if ARGS else 25} float32"
    svg = line_chart(title, "threads", "throughput (Gelem/s)", counts, rates)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(svg)
    print(f"figure written to {path}")


def cpu_name() -> str:
    """The processor's model name from /proc/cpuinfo ('unknown' elsewhere)."""
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return "unknown"
    return next((s.split(":", 1)[1].strip() for s in info.read_text().splitlines()
                 if s.startswith("model name")), "unknown")


def main() -> None:
    assert ARGS is not None
    n = 1 << ARGS.log2n
    x = (np.random.default_rng(0).standard_normal(n, dtype=np.float32) * 4).astype(np.float32)
    if ARGS.only_scaling_row:
        scaling_row(x, ARGS.threads)
        return
    if ARGS.only_alloc_row:
        alloc_row(x, ARGS.only_alloc_row)
        return
    torch.set_num_threads(ARGS.threads)
    lim = build_limits()
    if lim is not None:
        lim.lim_threads(ARGS.threads)
    path = os.environ.get("CPFLOAT_LIB")
    cpf = CPFloat(path) if path else None
    if cpf is None:
        print("CPFLOAT_LIB not set: CPFloat is skipped")
    cpu = cpu_name()
    print(f"n = 2^{ARGS.log2n} float32, best of {ARGS.repeat}, threads {ARGS.threads} "
          f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}) "
          f"(cores {os.cpu_count()}, {cpu}); qformat {qf.__version__}, torch "
          f"{torch.__version__}, ml_dtypes {ml_dtypes.__version__}")
    print("case, qformat time | reference time (reference/qformat: >1 means qformat is faster)")
    t = Table(ARGS.repeat)
    if ARGS.alloc_only:
        alloc_table(t)
        return
    if ARGS.small_only:
        small_table(t, x, lim)
        return
    if not ARGS.scaling_only:
        main_table(t, x, lim, cpf)
        small_table(t, x, lim)
        alloc_table(t)
        if ARGS.quick:
            return
        quant_table(t, x, lim)
    counts = thread_counts(ARGS.scaling)
    if counts:
        rates = scaling_table(counts)
        if ARGS.svg:
            write_scaling_svg(ARGS.svg, counts, rates)


if __name__ == "__main__":
    main()
