"""Fuzzing ``quantize`` and ``dequantize`` with malformed .safetensors, .npz
and .npy files and damaged qformat metadata: never a traceback, every
failure one line with exit status 2, and the destination never created or
changed.

Most cases run in-process through click's CliRunner (fast); a few go
through the real console script. The default run is time-bounded (a few
seconds); ``pytest -m fuzz`` runs longer (QFORMAT_FUZZ_SECONDS, default 120).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import subprocess
import time
import zipfile

import numpy as np
import pytest
import qformat as qf
from click.testing import CliRunner
from qformat.cli import main

QFORMAT = shutil.which("qformat")
_DTYPES = ["F32", "F16", "BF16", "F64", "I8", "U8", "F8_E4M3", "X9", 3, None]
_TARGETS = [["--to", "int8"], ["--to", "bf16"], ["--to", "mxfp4"], ["--to", "int4",
            "--group-size", "4"], ["--to", "fp8_e4m3fn"], ["--to", "int8", "--scheme",
                                                             "asymmetric"]]


def _st_bytes(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _valid_st(rng: random.Random) -> tuple:
    shape = [rng.choice([1, 2, 4, 8]), rng.choice([4, 8, 32])]
    x = np.random.default_rng(rng.randrange(1 << 30)).standard_normal(shape).astype(np.float32)
    header = {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, x.nbytes]}}
    return header, x.tobytes()


def _mutate_header(rng: random.Random, header: dict, data: bytes) -> bytes:
    e = header["w"]
    junk = rng.choice([-1, 0, 1 << 62, "7", None, [], {}, 1.5, True, [1, 2, 3]])
    pick = rng.randrange(10)
    if pick == 0:
        e["dtype"] = rng.choice(_DTYPES)
    elif pick == 1:
        e["shape"] = rng.choice([junk, [junk], [2, junk], e["shape"][::-1] + [3]])
    elif pick == 2:
        e["data_offsets"] = rng.choice([junk, [0, junk], [junk, len(data)], [4, len(data) + 4]])
    elif pick == 3:
        header["__metadata__"] = rng.choice([junk, {"qformat": junk}, {"a": 1}])
    elif pick == 4:
        header["v"] = dict(e)  # the same bytes under two names
    elif pick == 5:
        del e[rng.choice(["dtype", "shape", "data_offsets"])]
    elif pick == 6:
        header["w"] = junk
    elif pick == 7:
        return _st_bytes(header, data)[: rng.randrange(1, 8 + len(data))]
    elif pick == 8:
        blob = bytearray(_st_bytes(header, data))
        for _ in range(rng.randrange(1, 6)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        return bytes(blob)
    else:
        return struct.pack("<Q", rng.choice([0, 2, 1 << 40, 99])) + b"{}" * rng.randrange(3)
    return _st_bytes(header, data)


def _npy_bytes(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    arr = np.random.default_rng(rng.randrange(1 << 30)).standard_normal((4, 8))
    np.save(buf, arr.astype(rng.choice([np.float32, np.float64, np.float16, np.int8])))
    blob = bytearray(buf.getvalue())
    for _ in range(rng.randrange(0, 4)):
        blob[rng.randrange(len(blob))] = rng.randrange(256)
    return bytes(blob[: rng.randrange(1, len(blob) + 1)]) if rng.random() < 0.4 else bytes(blob)


def _npz_bytes(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("w.npy", _npy_bytes(rng))
        if rng.random() < 0.5:
            z.writestr("__qformat__.npy", _npy_bytes(rng))
    blob = bytearray(buf.getvalue())
    if rng.random() < 0.5:
        for _ in range(rng.randrange(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
    return bytes(blob)


def _damaged_qformat_file(rng: random.Random, folder: str, good: str) -> str:
    """A file written by ``quantize`` whose qformat record has one field
    replaced by junk (or whose companion tensors were dropped)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(good, "np") as f:
        meta = f.metadata()
    tensors = load_file(good)
    rec = json.loads(meta["qformat"])
    entry = rec["tensors"]["w"]
    junk = rng.choice([None, -3, "x", [], {}, 1e9, True, [1, "a"], {"name": 3}])
    key = rng.choice(sorted(entry) + ["format", "tensors", "version", "drop"])
    if key == "drop":
        tensors = {k: v for k, v in tensors.items() if k == "w" or rng.random() < 0.5}
    elif key in ("tensors", "version"):
        rec[key] = junk
    elif key == "format" and isinstance(entry.get("format"), dict):
        entry["format"][rng.choice(sorted(entry["format"]))] = junk
    else:
        entry[key] = junk
    path = os.path.join(folder, f"damaged-{rng.randrange(1 << 30)}.safetensors")
    save_file(tensors, path, metadata={**meta, "qformat": json.dumps(rec)})
    return path


def _one_case(rng: random.Random, folder: str, good_q: str) -> tuple:
    kind = rng.randrange(4)
    if kind == 0:
        name, blob = "in.safetensors", _mutate_header(rng, *_valid_st(rng))
    elif kind == 1:
        name, blob = "in.npy", _npy_bytes(rng)
    elif kind == 2:
        name, blob = "in.npz", _npz_bytes(rng)
    else:
        return ["dequantize", _damaged_qformat_file(rng, folder, good_q)]
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(blob)
    cmd = rng.choice(["quantize", "quantize", "dequantize"])
    return [cmd, path] + (rng.choice(_TARGETS) if cmd == "quantize" else [])


def _check(result_code: int, stderr: str, exception, dst: str, before) -> None:
    assert exception is None or isinstance(exception, SystemExit), exception
    assert result_code in (0, 2), (result_code, stderr)
    if result_code == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qformat: error: "), stderr
        now = open(dst, "rb").read() if os.path.exists(dst) else None
        assert now == before, "the destination changed on failure"
    assert not [n for n in os.listdir(os.path.dirname(dst)) if ".qformat-tmp-" in n]


def _fuzz(tmp_path, seconds: float, seed: int) -> int:
    rng = random.Random(seed)
    folder = str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    good = os.path.join(folder, "good.safetensors")
    x = np.random.default_rng(0).standard_normal((8, 32)).astype(np.float32)
    from safetensors.numpy import save_file
    save_file({"w": x}, good)
    good_q = os.path.join(folder, "good-q.safetensors")
    qf.quantize_file(good, good_q, "int8")
    runner = CliRunner()
    n, stop = 0, time.monotonic() + seconds
    while time.monotonic() < stop or n < 20:
        args = _one_case(rng, folder, good_q)
        dst = os.path.join(folder, "out", f"o{n % 3}.safetensors")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        existing = rng.random() < 0.3
        if existing:
            with open(dst, "wb") as f:
                f.write(b"precious")
        elif os.path.exists(dst):
            os.unlink(dst)
        before = open(dst, "rb").read() if existing else None
        full = [*args[:2], "-o", dst, *args[2:], "--json"] + (["--force"] if existing else [])
        r = runner.invoke(main, full)
        _check(r.exit_code, r.stderr, r.exception, dst, before)
        n += 1
    return n


# NumPy reads damaged .npy headers with ast.literal_eval, which warns about
# escape sequences in the garbage before refusing it.
_QUIET = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::SyntaxWarning")


@_QUIET
def test_fuzz_quantize_and_dequantize_briefly(tmp_path):
    assert _fuzz(tmp_path, seconds=4.0, seed=11) >= 20


@_QUIET
@pytest.mark.fuzz
def test_fuzz_quantize_and_dequantize_long(tmp_path):
    seconds = float(os.environ.get("QFORMAT_FUZZ_SECONDS", "120"))
    for seed in range(10):  # ten seeds, a tenth of the time each
        _fuzz(tmp_path / str(seed), seconds=seconds / 10, seed=seed)


@pytest.mark.skipif(QFORMAT is None, reason="the qformat console script is needed")
def test_fuzz_through_the_console_script(tmp_path):
    rng = random.Random(5)
    for i in range(6):
        folder = tmp_path / str(i)
        folder.mkdir()
        src = folder / "in.safetensors"
        src.write_bytes(_mutate_header(rng, *_valid_st(rng)))
        dst = folder / "o.safetensors"
        p = subprocess.run([QFORMAT, "quantize", str(src), "-o", str(dst), "--to", "int8"],
                           capture_output=True, text=True, timeout=60)
        _check(p.returncode, p.stderr, None, str(dst), None)
        assert "Traceback" not in p.stderr
