"""The statistics a float cast takes in its own Rust pass
(``encode_with_stats``, used by ``quantize_file``) against a NumPy
computation of the same numbers from ``encode``'s codes, and the
memory-mapped reads of the checkpoint pipeline."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import qformat as qf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from qformat._convert import encode_with_stats
from qformat.io import checkpoint as _checkpoint
from qformat.io.stats import ErrorStats
from qformat.io.stfile import TensorInfo, TensorReader, TensorWriter

TARGETS = ["bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz", "fp6_e2m3fn", "fp4_e2m1fn",
           "tf32", "fp32"]


def numpy_stats(x64: np.ndarray, y64: np.ndarray, fmax: float) -> dict:
    """Every statistic of ``encode_with_stats``, computed with NumPy from
    the exact values of the inputs and of the results."""
    xf, yf = np.isfinite(x64), np.isfinite(y64)
    both = xf & yf
    e = np.abs(y64[both] - x64[both])
    return {"n": x64.size, "finite": int(both.sum()),
            "max_abs": float(e.max()) if e.size else 0.0, "sum_abs": float(e.sum()),
            "noise": float(np.sum(e * e)), "signal": float(np.sum(x64[both] ** 2)),
            "nan_in": int(np.isnan(x64).sum()), "inf_in": int(np.isinf(x64).sum()),
            "nan_out": int(np.isnan(y64).sum()), "inf_out": int(np.isinf(y64).sum()),
            "amax": float(np.abs(x64[xf]).max()) if xf.any() else 0.0,
            "overflow": int(np.sum(xf & (np.abs(np.where(xf, x64, 0)) > fmax))),
            "flushed": int(np.sum(xf & (x64 != 0) & (y64 == 0)))}


def assert_same_stats(got: dict, want: dict) -> None:
    exact = ("n", "finite", "max_abs", "nan_in", "inf_in", "nan_out", "inf_out", "amax",
             "overflow", "flushed")
    assert {k: got[k] for k in exact} == {k: want[k] for k in exact}
    for k in ("sum_abs", "noise", "signal"):  # float sums: only the order of adding differs
        assert math.isclose(got[k], want[k], rel_tol=1e-12, abs_tol=1e-300), k


def check(x: np.ndarray, to: str, source=None, **opts) -> None:
    """Codes equal encode's; statistics equal the NumPy computation."""
    codes, sums = encode_with_stats(x, to, source=source, **opts)
    x_values = x if source is None else qf.decode(x, source)
    np.testing.assert_array_equal(codes, qf.encode(x_values, to, **opts))
    assert codes.shape == x.shape
    fmax = float(qf.finfo(to).max)
    want = numpy_stats(np.asarray(x_values, np.float64).reshape(-1),
                       qf.decode(codes, to).reshape(-1), fmax)
    assert_same_stats(sums, want)


def awkward_float32(n: int = 5000, seed: int = 0) -> np.ndarray:
    """Normal weights with every special value mixed in: NaN, ±inf, ±0,
    float32 subnormals, values beyond every narrow format's range."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * rng.choice([1e-8, 0.02, 1.0, 1e3, 1e6], n)).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-40, 3e38, -3e38, 448,
                        449, 464, 57344, 65504, 65520], np.float32)
    x[rng.choice(n, special.size, replace=False)] = special
    return x


@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("overflow", ["saturate", "inf", None])
def test_fused_stats_equal_numpy_on_special_values(to, overflow):
    fmt = qf.format(to)
    if overflow == "inf" and not fmt.has_inf:
        pytest.skip(f"{to} has no infinity")
    nan = 0 if fmt.nan == "none" else None  # what NaN becomes where the format has none
    check(awkward_float32(), to, overflow=overflow, nan=nan)
    check(awkward_float32().astype(np.float64) * 1e30, to, overflow=overflow, nan=nan)


@pytest.mark.parametrize("to", ["bf16", "fp8_e4m3fn", "fp8_e5m2", "fp16"])
def test_fused_stats_from_stored_words(to):
    """bf16 and fp8 words as a file stores them, every pattern once."""
    for source, words in (("bf16", np.arange(1 << 16, dtype=np.uint16)),
                          ("fp8_e4m3fn", np.arange(256, dtype=np.uint8))):
        check(words, to, source=source, overflow="saturate")


def test_fused_stats_of_empty_and_scalar_inputs():
    for x in (np.zeros(0, np.float32), np.zeros((0, 7), np.float64), np.float32(-2.5e-3),
              np.full((3, 0), np.nan, np.float32)):
        check(np.asarray(x), "fp8_e4m3fn")
    codes, sums = encode_with_stats(np.zeros(0, np.float32), "bf16")
    assert codes.size == 0 and sums["n"] == 0 and sums["amax"] == 0.0


def test_fused_stats_refuse_what_encode_refuses():
    with pytest.raises(ValueError, match="NaN at flat index 2"):
        encode_with_stats(np.array([1, 2, np.nan], np.float32), "fp8_e4m3fn", nan="error")
    with pytest.raises(TypeError, match="float formats"):
        encode_with_stats(np.ones(3, np.float32), "int8")
    with pytest.raises(TypeError, match="storage words"):
        encode_with_stats(np.ones(3, np.float32), "bf16", source="bf16")
    with pytest.raises(ValueError, match="below 2"):  # 0xFF is no fp6 pattern
        encode_with_stats(np.array([7, 0xFF], np.uint8), "bf16", source="fp6_e2m3fn")


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.integers(0, 300),
                  elements=st.floats(width=32, allow_nan=True, allow_infinity=True,
                                     allow_subnormal=True)),
       st.sampled_from(["bf16", "fp8_e4m3fn", "fp8_e5m2", "fp4_e2m1fn", "fp16"]))
def test_fused_stats_property(x, to):
    check(x, to, nan=0 if qf.format(to).nan == "none" else None, overflow="saturate")


def test_thread_count_does_not_change_the_sums():
    """Sums are formed per fixed chunk and added in chunk order."""
    code = ("import numpy as np; from qformat._convert import encode_with_stats as f; "
            "x = (np.random.default_rng(3).standard_normal(300000) * 500).astype(np.float32); "
            "print(repr(f(x, 'fp8_e4m3fn', overflow='saturate')[1]))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "RAYON_NUM_THREADS": str(k)}).stdout
            for k in (1, 3)}
    assert len(outs) == 1


# ---------------------------------------------------------------------------
# The checkpoint pipeline


def test_quantize_file_report_equals_numpy(tmp_path):
    """The report of a float cast (sums over runs of rows, forced small)
    equals NumPy's statistics of the file's own values against what load()
    gives back, overflow and flushing included."""
    x = awkward_float32(64 * 96).reshape(64, 96)
    np.savez(tmp_path / "m.npz", w=x)
    mp = pytest.MonkeyPatch()
    mp.setattr(_checkpoint, "CHUNK_BYTES", 4000)
    try:
        rep = qf.quantize_file(tmp_path / "m.npz", tmp_path / "q.npz", "fp8_e4m3fn", nan=0x7F)
    finally:
        mp.undo()
    back = qf.load(tmp_path / "q.npz")["w"].astype(np.float64)
    row = rep["tensors"][0]
    want = ErrorStats()
    want.merge_sums(numpy_stats(x.astype(np.float64).reshape(-1), back.reshape(-1), 448.0),
                    limits=True)
    expect = want.to_dict()
    for k in ("nan_in", "inf_in", "nan_out", "inf_out", "overflow", "flushed", "amax",
              "max_abs"):
        assert row[k] == expect[k], k
    assert math.isclose(row["sqnr_db"], expect["sqnr_db"], rel_tol=1e-9)
    assert row["overflow"] > 0 and row["flushed"] > 0 and row["nan_in"] == 1


def test_bf16_file_to_fp8_is_the_same_bits_as_from_float32(tmp_path):
    """bf16 words go to the kernel as they are stored; the codes equal
    encode() of their float32 values (what the pipeline did before)."""
    words = np.arange(1 << 16, dtype=np.uint16).reshape(256, 256)
    w = TensorWriter(str(tmp_path / "b.safetensors"), [TensorInfo("w", "BF16", (256, 256))], {})
    w.write("w", words)
    w.commit()
    for to in ("fp8_e4m3fn", "bf16", "fp16"):
        out = tmp_path / f"{to}.safetensors"
        qf.quantize_file(tmp_path / "b.safetensors", out, to, nan=0)
        with TensorReader(str(out)) as r:
            got = r.read("w")
        x32 = qf.decode(words, "bf16", dtype=np.float32)
        want = qf.encode(x32, to, overflow="saturate", nan=0)
        np.testing.assert_array_equal(got.view(want.dtype), want)  # fp16 is read as float16


def test_empty_tensors_in_a_file(tmp_path):
    layout = [TensorInfo("e", "F32", (0, 8)), TensorInfo("w", "F32", (4, 8)),
              TensorInfo("z", "BF16", (8, 0))]
    w = TensorWriter(str(tmp_path / "m.safetensors"), layout, {})
    w.write("e", np.zeros((0, 8), np.float32))
    w.write("w", np.arange(32, dtype=np.float32).reshape(4, 8))
    w.write("z", np.zeros((8, 0), np.uint16))
    w.commit()
    rep = qf.quantize_file(tmp_path / "m.safetensors", tmp_path / "q.safetensors", "fp8_e5m2")
    rows = {r["name"]: r for r in rep["tensors"]}
    assert rows["e"]["max_abs"] == 0.0 and rows["e"]["amax"] == 0.0
    assert rows["w"]["amax"] == 31.0
    assert qf.load(tmp_path / "q.safetensors")["e"].shape == (0, 8)


def test_view_reads_the_mapped_file_without_a_copy(tmp_path):
    layout = [TensorInfo("a", "U8", (4,)), TensorInfo("b", "F32", (5, 4)),
              TensorInfo("c", "U8", (1,)), TensorInfo("d", "BF16", (2, 3))]
    w = TensorWriter(str(tmp_path / "m.safetensors"), layout, {})
    w.write("a", np.arange(4, dtype=np.uint8))
    b = np.arange(20, dtype=np.float32).reshape(5, 4)
    w.write("b", b)
    w.write("c", np.zeros(1, np.uint8))
    w.write("d", np.arange(6, dtype=np.uint16).reshape(2, 3))
    w.commit()
    with TensorReader(str(tmp_path / "m.safetensors")) as r:
        vb = r.view("b", 1, 4)
        np.testing.assert_array_equal(vb, b[1:4])
        assert not vb.flags.owndata and not vb.flags.writeable  # a window into the map
        assert r.view("b", 2, 2).shape == (0, 4)
        r.release("b")  # pages dropped from this process are read again from the file
        np.testing.assert_array_equal(vb, b[1:4])
        # "d" starts at an odd offset: not aligned for its words, so copied
        vd = r.view("d")
        np.testing.assert_array_equal(vd, np.arange(6, dtype=np.uint16).reshape(2, 3))
        assert vd.flags.owndata
        del vb


@pytest.mark.parametrize("to", ["bf16", "fp8_e4m3fn", "fp8_e5m2", "fp16"])
def test_npz_float_casts_load_back(tmp_path, to):
    """Regression: a .npz written with bf16/fp8 codes stores them as
    unsigned words (NumPy has no such dtype), and load() refused its own
    file ("stored as U8, not F8_E4M3")."""
    x = awkward_float32(4 * 32, seed=5).reshape(4, 32)
    np.savez(tmp_path / "m.npz", w=x)
    qf.quantize_file(tmp_path / "m.npz", tmp_path / "q.npz", to, nan=0)
    np.testing.assert_array_equal(
        qf.load(tmp_path / "q.npz")["w"],
        qf.decode(qf.encode(x, to, overflow="saturate", nan=0), to, dtype=np.float32))
