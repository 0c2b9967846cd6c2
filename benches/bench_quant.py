"""Quantization speed, in one run: per-channel int8 on a 4096x8192 float32
matrix (scale computation + codes) for qformat, torch.quantize_per_channel
(with its own scale computation), torchao's quantize_affine (when
installed), a NumPy one-liner, and a plain copy of the bytes; then
group-wise int4 (groups of 128) and MXFP4.

Run: python benches/bench_quant.py [--rows 4096 --cols 8192 --repeat 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import qformat as qf
from _timing import best_ms


def numpy_per_channel(w: np.ndarray) -> np.ndarray:
    s = np.abs(w).max(axis=1, keepdims=True) / 127
    return np.clip(np.rint(w / s), -127, 127).astype(np.int8)


def numpy_group_int4(w: np.ndarray, g: int) -> np.ndarray:
    v = w.reshape(w.shape[0], -1, g)
    s = np.abs(v).max(axis=2, keepdims=True) / 7
    return np.clip(np.rint(v / s), -7, 7).astype(np.int8).reshape(w.shape)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    w = np.random.default_rng(0).standard_normal((a.rows, a.cols)).astype(np.float32)
    out = np.empty_like(w)
    results: dict[str, float] = {}
    results["copy (np.copyto)"] = best_ms(lambda: np.copyto(out, w), a.repeat)
    results["qformat int8 per-channel"] = best_ms(lambda: qf.quantize(w, "int8", axis=0), a.repeat)
    results["qformat int8 per-channel, torch arithmetic"] = best_ms(
        lambda: qf.quantize(w, "int8", axis=0, arithmetic="torch"), a.repeat
    )
    results["numpy one-liner int8 per-channel"] = best_ms(lambda: numpy_per_channel(w), a.repeat)
    try:
        import torch

        t = torch.from_numpy(w)

        def torch_pc():
            s = t.abs().amax(dim=1) / 127
            return torch.quantize_per_channel(
                t, s, torch.zeros(a.rows, dtype=torch.int64), 0, torch.qint8
            )

        results["torch.quantize_per_channel int8"] = best_ms(torch_pc, a.repeat)
        try:
            from torchao.quantization.quant_primitives import quantize_affine

            def ao():
                s = t.abs().amax(dim=1, keepdim=True) / 127
                z = torch.zeros(a.rows, dtype=torch.int32)
                return quantize_affine(t, (1, a.cols), s.reshape(-1), z, torch.int8, -127, 127)

            results["torchao quantize_affine int8"] = best_ms(ao, a.repeat)
        except Exception as e:  # noqa: BLE001 - optional comparison
            print(f"(torchao skipped: {type(e).__name__}: {e})")
    except ImportError:
        print("(torch not installed: skipped)")
    results["qformat int4 group 128"] = best_ms(
        lambda: qf.quantize(w, "int4", axis=-1, group_size=128), a.repeat
    )
    results["numpy one-liner int4 group 128"] = best_ms(lambda: numpy_group_int4(w, 128), a.repeat)
    results["qformat MXFP4 (e2m1, e8m0, 32)"] = best_ms(
        lambda: qf.quantize(w, "fp4_e2m1fn", group_size=32, scale_format="e8m0"), a.repeat
    )
    results["qformat MXFP8 (e4m3, e8m0, 32)"] = best_ms(
        lambda: qf.quantize(w, "fp8_e4m3fn", group_size=32, scale_format="e8m0"), a.repeat
    )
    copy = results["copy (np.copyto)"]
    ours = results["qformat int8 per-channel"]
    print(f"{a.rows}x{a.cols} float32 ({w.nbytes / 2**20:.0f} MiB), best of {a.repeat}")
    for name, ms in results.items():
        print(
            f"  {name:45s} {ms:9.1f} ms   {ms / copy:6.2f}x copy   {ms / ours:6.2f}x qformat-int8"
        )


if __name__ == "__main__":
    main()
