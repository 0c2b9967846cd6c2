"""Recipe speed against each recipe's reference library, in one run: GGUF
block types (gguf-py's NumPy quantizers; for the K-quants, which gguf-py
cannot quantize, llama.cpp's reference quantizer when QFORMAT_GGML_LIB names
a library built by scripts/build_ggml_ref.sh, and gguf-py's dequantizer
against ours), MX scale rules (torchao's to_mx
on CPU), NVFP4 (torchao's nvfp4_quantize, per-tensor scale included) and
DeepSeek-V3 FP8 blocks (its formula written in torch).
Each line prints both times (best of --repeat) and their ratio.

Run: python benches/bench_recipes.py [--rows 1024 --cols 4096 --repeat 3]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import warnings

import numpy as np
import qformat as qf
from _timing import best_ms


def line(name: str, ours: float, ref_name: str, ref: float) -> None:
    print(f"{name:<28} qformat {ours:9.1f} ms   {ref_name} {ref:9.1f} ms   "
          f"x{ref / ours:6.1f} faster")


def bench_gguf(x: np.ndarray, repeat: int) -> None:
    try:
        import gguf
    except ImportError:
        print("gguf not installed: GGUF lines skipped")
        return
    types = {"q8_0": "Q8_0", "q4_0": "Q4_0", "q4_1": "Q4_1", "q5_0": "Q5_0", "q5_1": "Q5_1",
             "gguf_mxfp4": "MXFP4", "tq1_0": "TQ1_0", "tq2_0": "TQ2_0"}
    for name, member in types.items():
        qtype = getattr(gguf.GGMLQuantizationType, member)
        with np.errstate(all="ignore"):
            ref = best_ms(lambda q=qtype: gguf.quants.quantize(x, q), repeat)
        ours = best_ms(lambda n=name: qf.quantize(x, n), repeat)
        line(name, ours, "gguf-py", ref)
    for name, member in (("q4_k", "Q4_K"), ("q5_k", "Q5_K"), ("q6_k", "Q6_K")):
        q = qf.quantize(x, name)
        qtype = getattr(gguf.GGMLQuantizationType, member)
        line(f"{name} dequantize", best_ms(q.dequantize, repeat), "gguf-py",
             best_ms(lambda b=q.blocks, t=qtype: gguf.quants.dequantize(b, t), repeat))
        ref_quantize = _ggml_quantizer(name)
        if ref_quantize is not None:
            line(f"{name} quantize", best_ms(lambda n=name: qf.quantize(x, n), repeat),
                 "llama.cpp", best_ms(lambda f=ref_quantize: f(x), repeat))


def _ggml_quantizer(name: str):
    """llama.cpp's single-threaded reference quantizer for ``name`` from
    the library in QFORMAT_GGML_LIB, or None when it is not set."""
    lib_path = os.environ.get("QFORMAT_GGML_LIB")
    if not lib_path:
        return None
    fn = getattr(ctypes.CDLL(lib_path), f"quantize_row_{name[:2]}_K_ref")
    fn.restype, fn.argtypes = None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    size = {"q4_k": 144, "q5_k": 176, "q6_k": 210}[name]

    def run(x: np.ndarray) -> np.ndarray:
        out = np.empty(x.size // 256 * size, np.uint8)
        fn(x.ctypes.data, out.ctypes.data, x.size)
        return out

    return run


def bench_torchao(x: np.ndarray, repeat: int) -> None:
    try:
        import torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.prototype.mx_formats import mx_tensor, nvfp4_tensor
    except ImportError:
        print("torchao not installed: MX and NVFP4 lines skipped")
        return
    t = torch.from_numpy(x)
    for mode in ("floor", "ceil", "even", "rceil"):
        m = mx_tensor.ScaleCalculationMode(mode)
        ref = best_ms(lambda m=m: mx_tensor.to_mx(t, torch.float8_e4m3fn, 32, m), repeat)
        ours = best_ms(lambda mode=mode: qf.quantize(
            x, "fp8_e4m3fn", group_size=32, scale_format="e8m0", scale_rule=mode), repeat)
        line(f"mxfp8 e4m3 scale_rule={mode}", ours, "torchao", ref)

    def torchao_nvfp4() -> None:
        pts = nvfp4_tensor.per_tensor_amax_to_scale(torch.max(torch.abs(t)))
        nvfp4_tensor.nvfp4_quantize(t, 16, pts)

    line("nvfp4", best_ms(lambda: qf.quantize(x, "nvfp4"), repeat), "torchao",
         best_ms(torchao_nvfp4, repeat))
    pts = nvfp4_tensor.per_tensor_amax_to_scale(torch.max(torch.abs(t)))
    theirs = nvfp4_tensor.NVFP4Tensor.to_nvfp4(t, per_tensor_scale=pts)
    ours = qf.quantize(x, "nvfp4")
    line("nvfp4 dequantize", best_ms(ours.dequantize, repeat), "torchao",
         best_ms(lambda: theirs.dequantize(torch.float32), repeat))


def bench_fp8_block(x: np.ndarray, repeat: int) -> None:
    """DeepSeek-V3 FP8 blocks against the same formula in torch on CPU (no
    library ships DeepSeek's own Triton quantizer)."""
    try:
        import torch
    except ImportError:
        print("torch not installed: fp8_block128 line skipped")
        return
    t = torch.from_numpy(x)

    def torch_blocks() -> None:
        m, n = t.shape
        blocks = t.view(m // 128, 128, n // 128, 128)
        s = blocks.abs().amax(dim=(1, 3)) / 448.0
        (blocks / s[:, None, :, None]).to(torch.float8_e4m3fn)

    line("fp8_block128", best_ms(lambda: qf.quantize(x, "fp8_block128"), repeat),
         "torch formula", best_ms(torch_blocks, repeat))
    m, n = t.shape
    s = t.view(m // 128, 128, n // 128, 128).abs().amax(dim=(1, 3)) / 448.0
    codes = (t.view(m // 128, 128, n // 128, 128) / s[:, None, :, None]).to(torch.float8_e4m3fn)
    ours = qf.quantize(x, "fp8_block128")
    line("fp8_block128 dequantize", best_ms(ours.dequantize, repeat), "torch formula",
         best_ms(lambda: codes.float() * s[:, None, :, None], repeat))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1024)
    p.add_argument("--cols", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    x = np.random.default_rng(0).standard_normal((a.rows, a.cols)).astype(np.float32)
    print(f"{a.rows}x{a.cols} float32 ({x.size / 2**20:.0f} Mi values), best of {a.repeat}")
    bench_gguf(x, a.repeat)
    bench_torchao(x, a.repeat)
    bench_fp8_block(x, a.repeat)


if __name__ == "__main__":
    main()
