"""Throughput of qformat's float conversions against torch CPU, NumPy,
ml_dtypes and a plain memory copy, all on the same 2^25 float32 values, in
one run.

    python benches/bench_convert.py [--log2n 25] [--repeat 7]

Each line is the best of ``--repeat`` runs. The ratio columns divide the
reference's time by qformat's (above 1: qformat is faster). Targets from the
issue: encode f32 -> bf16/fp16/fp8 at least as fast as torch on all cores,
>= 3x NumPy and ml_dtypes, within 1.5x of a plain copy of the output bytes;
round at least as fast as torch's .to(bf16).float() round trip.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import ml_dtypes
import numpy as np
import qformat as qf
import torch


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in seconds (one warm-up first)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n = 1 << args.log2n
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n, dtype=np.float32) * 4).astype(np.float32)
    t = torch.from_numpy(x)
    out16 = np.empty(n, np.uint16)
    out8 = np.empty(n, np.uint8)
    out32 = np.empty(n, np.float32)
    r = args.repeat

    rows: dict[str, float] = {}

    def run(label: str, fn: Callable[[], object]) -> None:
        rows[label] = best(fn, r)

    # plain copies of the same bytes: output-sized and input-sized
    src16 = x.view(np.uint16)[:n]
    src8 = x.view(np.uint8)[:n]
    run("copy 1 B/elt (fp8-sized output)", lambda: np.copyto(out8, src8))
    run("copy 2 B/elt (bf16-sized output)", lambda: np.copyto(out16, src16))
    run("copy 4 B/elt (input-sized)", lambda: np.copyto(out32, x))
    # what a fresh output array costs by itself (page faults on first touch)
    run("np.empty + fill, 2 B/elt", lambda: np.empty(n, np.uint16).fill(0))

    run("qf.encode bf16", lambda: qf.encode(x, qf.bf16))
    run("qf.encode bf16 out=", lambda: qf.encode(x, qf.bf16, out=out16))
    run("qf.encode fp16", lambda: qf.encode(x, qf.fp16))
    run("qf.encode fp16 out=", lambda: qf.encode(x, qf.fp16, out=out16))
    run("qf.encode fp8_e4m3fn", lambda: qf.encode(x, qf.fp8_e4m3fn))
    run("qf.encode fp8_e4m3fn out=", lambda: qf.encode(x, qf.fp8_e4m3fn, out=out8))
    run("qf.round bf16", lambda: qf.round(x, qf.bf16))
    run("qf.round bf16 out=", lambda: qf.round(x, qf.bf16, out=out32))
    codes = qf.encode(x, qf.bf16)
    run("qf.decode bf16->f32 out=", lambda: qf.decode(codes, qf.bf16, dtype=np.float32,
                                                      out=out32))

    run("torch .to(bfloat16)", lambda: t.to(torch.bfloat16))
    run("torch .to(float16)", lambda: t.to(torch.float16))
    run("torch .to(float8_e4m3fn)", lambda: t.to(torch.float8_e4m3fn))
    run("torch .to(bfloat16).float()", lambda: t.to(torch.bfloat16).float())
    run("numpy astype(float16)", lambda: x.astype(np.float16))
    run("ml_dtypes astype(bfloat16)", lambda: x.astype(ml_dtypes.bfloat16))
    run("ml_dtypes astype(float8_e4m3fn)", lambda: x.astype(ml_dtypes.float8_e4m3fn))

    print(f"n = 2^{args.log2n} float32 values, best of {r}; cores: {os.cpu_count()}, "
          f"torch threads: {torch.get_num_threads()}, qformat {qf.__version__}")
    print(f"{'operation':36s} {'ms':>9s} {'Gelem/s':>8s}")
    for label, sec in rows.items():
        print(f"{label:36s} {sec * 1e3:9.2f} {n / sec / 1e9:8.2f}")

    comparisons = [
        ("encode bf16", "qf.encode bf16", [
            ("torch .to(bfloat16)", 1.0), ("ml_dtypes astype(bfloat16)", 3.0),
            ("copy 2 B/elt (bf16-sized output)", 1 / 1.5), ("copy 4 B/elt (input-sized)", None)]),
        ("encode fp16", "qf.encode fp16", [
            ("torch .to(float16)", 1.0), ("numpy astype(float16)", 3.0),
            ("copy 2 B/elt (bf16-sized output)", 1 / 1.5), ("copy 4 B/elt (input-sized)", None)]),
        ("encode fp8_e4m3fn", "qf.encode fp8_e4m3fn", [
            ("torch .to(float8_e4m3fn)", 1.0), ("ml_dtypes astype(float8_e4m3fn)", 3.0),
            ("copy 1 B/elt (fp8-sized output)", 1 / 1.5), ("copy 4 B/elt (input-sized)", None)]),
        ("round bf16", "qf.round bf16", [
            ("torch .to(bfloat16).float()", 1.0), ("copy 4 B/elt (input-sized)", None)]),
    ]
    print("\nratio = reference time / qformat time (>1: qformat faster); target in brackets.")
    print("A conversion reads 4 B/elt, so a copy of only the output bytes moves less data;")
    print("the input-sized copy is the memory-bandwidth floor for any f32 conversion.")
    for _title, ours, refs in comparisons:
        for variant in (ours, ours + " out="):
            if variant not in rows:
                continue
            cells = []
            for ref, target in refs:
                ratio = rows[ref] / rows[variant]
                ok = "" if target is None else (" ok" if ratio >= target else " MISS")
                tgt = "" if target is None else f" [>={target:.2f}]"
                cells.append(f"{ref}: {ratio:.2f}{tgt}{ok}")
            print(f"{variant:28s} " + "; ".join(cells))


if __name__ == "__main__":
    main()
