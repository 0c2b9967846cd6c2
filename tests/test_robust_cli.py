"""Issue 11 through the real console script: every bad input gets one clear
line and exit status 2, internal errors a traceback and a "please report"
line, and no report hides a NaN or an infinity."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

safetensors_numpy = pytest.importorskip("safetensors.numpy")
from safetensors import safe_open  # noqa: E402

QFORMAT = shutil.which("qformat")
pytestmark = pytest.mark.skipif(QFORMAT is None, reason="the qformat console script is needed")


def qf_cli(*args, columns="200", ok=None):
    """Run ``qformat ARGS``; ``ok`` True/False asserts success or exit 2 with one line."""
    p = subprocess.run([QFORMAT, *map(str, args)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": columns, "NO_COLOR": "1"})
    if ok is True:
        assert p.returncode == 0, p.stderr
    if ok is False:
        assert_one_line_error(p)
    return p


def assert_one_line_error(p):
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qformat: error: "), p.stderr
    assert "Traceback" not in p.stderr


def save_st(path, tensors, metadata=None):
    safetensors_numpy.save_file(tensors, str(path), metadata=metadata)
    return str(path)


def st_metadata(path):
    with safe_open(str(path), "np") as f:
        return f.metadata() or {}


def raw_st(path, header: dict, data: bytes):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return str(path)


@pytest.fixture
def weights(tmp_path):
    rng = np.random.default_rng(0)
    return save_st(tmp_path / "w.safetensors",
                   {"w": rng.standard_normal((64, 64)).astype(np.float32),
                    "b": rng.standard_normal(64).astype(np.float32)})


# --- e8m0 and non-finite values in the report --------------------------------


def test_cast_to_e8m0_is_refused_unless_forced(weights, tmp_path):
    out = tmp_path / "o.safetensors"
    p = qf_cli("quantize", weights, "-o", out, "--to", "fp8_e8m0fnu", ok=False)
    assert "no sign" in p.stderr and "--force" in p.stderr
    assert not out.exists()
    p = qf_cli("quantize", weights, "-o", out, "--to", "fp8_e8m0fnu", "--force", "--json",
               ok=True)
    totals = json.loads(p.stdout)["totals"]
    assert totals["nan_out"] > 1000  # about half of 4096 weights are negative
    assert "warning" in p.stderr and "NaN" in p.stderr


def test_report_counts_non_finite_and_errors_are_over_finite_values(tmp_path):
    x = np.linspace(-3, 3, 64 * 8, dtype=np.float32).reshape(64, 8)
    x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, 1e6  # 1e6 overflows fp8 to NaN (no saturation
    src = save_st(tmp_path / "nf.safetensors", {"w": x})  # with --overflow nan)
    for to, extra in (("bf16", ()), ("fp8_e4m3fn", ("--overflow", "nan"))):
        out = tmp_path / f"o-{to}.safetensors"
        p = qf_cli("quantize", src, "-o", out, "--to", to, "--json", *extra, ok=True)
        row = json.loads(p.stdout)["tensors"][0]
        assert row["nan_in"] == 1 and row["inf_in"] == 1
        assert 0 < row["max_abs"] <= 1e6 * 2**-8  # finite pairs only; not 0: rounding happened
        assert row["nan_out"] == (1 if to == "bf16" else 3)  # fp8: inf and 1e6 become NaN
        table = qf_cli("quantize", src, "-o", out, "--to", to, "--force", *extra, ok=True).stdout
        assert "NaN/inf in → out" in table and "1 NaN, 1 inf →" in table


def test_no_report_skips_statistics(weights, tmp_path):
    p = qf_cli("quantize", weights, "-o", tmp_path / "o.safetensors", "--to", "int8",
               "--no-report", "--json", ok=True)
    rep = json.loads(p.stdout)
    assert "max_abs" not in rep["totals"] and "max_abs" not in rep["tensors"][0]


# --- explain ------------------------------------------------------------------


def test_explain_json_of_a_tiny_value_beyond_the_int_digit_limit():
    p = qf_cli("explain", "1e-5000", "fp64", "--json", ok=True)
    d = json.loads(p.stdout)[0]
    assert d["underflow"] is True and d["abs_error"].startswith("1/1000")
    assert len(d["abs_error"]) > 5000


@pytest.mark.parametrize("columns", ["80", "60"])
def test_explain_in_a_pipe_never_splits_numbers(columns):
    p = qf_cli("explain", "3.14159265358979", "fp32", "bf16", "fp16", "fp8_e4m3fn",
               columns=columns, ok=True)
    for token in ("0x40490fdb", "3.1415927410125732421875", "0x4049", "0x4248", "0x45",
                  "3.140625", "10010010000111111011011"):
        assert token in p.stdout, token
    wide = qf_cli("explain", "3.14159265358979", "fp32", "bf16", ok=True).stdout
    assert "0x40490fdb" in wide


# --- malformed safetensors ------------------------------------------------------


def test_deeply_nested_header_is_one_line(tmp_path):
    path = tmp_path / "nest.safetensors"
    body = b"[" * 100_000
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    qf_cli("quantize", path, "-o", tmp_path / "o.safetensors", "--to", "bf16", ok=False)


def test_duplicate_tensor_names_are_refused(tmp_path):
    text = (b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
            b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')
    path = tmp_path / "dup.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 8)
    p = qf_cli("quantize", path, "-o", tmp_path / "o.safetensors", "--to", "bf16", ok=False)
    assert "twice" in p.stderr


def test_overlapping_offsets_are_refused(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    path = raw_st(tmp_path / "ovl.safetensors", header, b"\0" * 12)
    p = qf_cli("quantize", path, "-o", tmp_path / "o.safetensors", "--to", "bf16", ok=False)
    assert "overlaps" in p.stderr
    gap = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    qf_cli("quantize", raw_st(tmp_path / "gap.safetensors", gap, b"\0" * 8), "-o",
           tmp_path / "o.safetensors", "--to", "bf16", ok=False)


# --- dequantize -----------------------------------------------------------------


def _int8_file(weights, tmp_path):
    out = tmp_path / "q.safetensors"
    qf_cli("quantize", weights, "-o", out, "--to", "int8", ok=True)
    tensors = safetensors_numpy.load_file(str(out))
    return tensors, st_metadata(out)


def _breakages(tensors, meta):
    rec = json.loads(meta["qformat"])
    yield "list", tensors, {**meta, "qformat": "[]"}
    r = json.loads(meta["qformat"])
    del r["tensors"]["w"]["shape"]
    yield "no shape", tensors, {**meta, "qformat": json.dumps(r)}
    yield "no scale", {k: v for k, v in tensors.items() if k != "w.scale"}, meta
    r = json.loads(meta["qformat"])
    r["tensors"]["w"]["kind"] = "weird"
    yield "weird kind", tensors, {**meta, "qformat": json.dumps(r)}
    yield "float codes", {**tensors, "w": tensors["w"].astype(np.float32)}, meta
    r = json.loads(meta["qformat"])
    r["tensors"]["w"]["format"] = {"name": "int8", "bits": "8", "signed": True}
    yield "bad format record", tensors, {**meta, "qformat": json.dumps(r)}
    assert rec["tensors"]["w"]["kind"] == "int"


def test_dequantize_of_broken_metadata_is_one_line(weights, tmp_path):
    tensors, meta = _int8_file(weights, tmp_path)
    for i, (what, t, m) in enumerate(_breakages(tensors, meta)):
        bad = save_st(tmp_path / f"bad{i}.safetensors", t, m)
        out = tmp_path / f"back{i}.safetensors"
        p = qf_cli("dequantize", bad, "-o", out)
        assert_one_line_error(p), what
        assert not out.exists(), what


def test_dequantize_of_a_plain_file_says_not_a_qformat_file(tmp_path):
    src = save_st(tmp_path / "plain.safetensors", {"x": np.arange(4, dtype=np.float64)})
    p = qf_cli("dequantize", src, "-o", tmp_path / "o.safetensors", ok=False)
    assert "not a qformat file" in p.stderr


# --- verify, memory, options -------------------------------------------------------


def test_verify_report_to_a_missing_directory_is_one_line():
    p = qf_cli("verify", "--against", "numpy", "--format", "bf16", "--samples", "64",
               "--report", "/nonexistent/r.json", ok=False)
    assert "/nonexistent" in p.stderr


def test_int_quantization_with_nan_names_the_tensor_and_offers_nan(tmp_path):
    x = np.ones((8, 8), np.float32)
    x[3, 3] = np.nan
    src = save_st(tmp_path / "n.safetensors", {"layer.weight": x})
    out = tmp_path / "o.safetensors"
    p = qf_cli("quantize", src, "-o", out, "--to", "int8", ok=False)
    assert "'layer.weight'" in p.stderr and "--nan" in p.stderr
    qf_cli("quantize", src, "-o", out, "--to", "int8", "--nan", "0", ok=True)
    assert np.isfinite(safetensors_numpy.load_file(str(out))["layer.weight.scale"]).all()


@pytest.mark.parametrize("args", [("--group-size", "0"), ("--axis", "none")])
def test_mx_group_size_zero_and_axis_none_are_refused(weights, tmp_path, args):
    qf_cli("quantize", weights, "-o", tmp_path / "o.safetensors", "--to", "mxfp4", *args,
           ok=False)


def test_memory_sizes_mx_formats_and_refuses_fractional_counts():
    d = json.loads(qf_cli("memory", "7B", "-f", "mxfp4", "-f", "mxfp8", "--json",
                          ok=True).stdout)
    bits = {r["format"]: r["bits"] for r in d["formats"]}
    assert bits == {"mxfp4": 4.25, "mxfp8": 8.25}
    assert d["formats"][0]["weights_GB"] == pytest.approx(7 * 4.25 / 8)
    qf_cli("memory", "0.5", ok=False)


# --- signals and internal errors -------------------------------------------------------

# The child restores SIGINT's default handler first: a process started in
# the background by a non-interactive shell (nohup ... &, some CI runners)
# inherits SIGINT as ignored, and Python then keeps ignoring it, so the
# test would wait out the child's 60 s sleep instead of testing the cleanup.
_SLOW_QUANTIZE = """
import signal, sys, time, qformat.io.checkpoint as c
signal.signal(signal.SIGINT, signal.default_int_handler)
orig = c._TensorJob._convert
marker = sys.argv[2] + ".started"
def slow(self, raw):
    orig(self, raw)
    open(marker, "w").close()
    time.sleep(60)
c._TensorJob._convert = slow
sys.argv = ["qformat", "quantize", sys.argv[1], "-o", sys.argv[2], "--to", "int8"]
from qformat.cli import run
run()
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_quantize_removes_the_temporary_file(weights, tmp_path, sig):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_QUANTIZE, weights, str(out)],
                            stderr=subprocess.PIPE, text=True)
    marker = str(out) + ".started"
    deadline = time.time() + 60
    while not os.path.exists(marker) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert os.path.exists(marker), proc.stderr.read() if proc.poll() is not None else ""
    assert any(".qformat-tmp-" in n for n in os.listdir(out_dir))
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr.read()
    assert sorted(os.listdir(out_dir)) == [os.path.basename(marker)]


_INTERNAL_BUG = """
import qformat.io.checkpoint as c
def broken(*a, **k):
    raise TypeError("an internal bug")
c.quantize_file = broken
import qformat.cli.quantize as q
q.quantize_file = broken
import sys
sys.argv = ["qformat", "quantize", "a.safetensors", "-o", "b.safetensors", "--to", "int8"]
from qformat.cli import run
run()
"""


def test_internal_error_is_a_traceback_with_a_please_report_line(tmp_path):
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(_INTERNAL_BUG)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 70
    assert "Traceback" in p.stderr and "TypeError: an internal bug" in p.stderr
    assert "please report" in p.stderr and "qformat: error" not in p.stderr
