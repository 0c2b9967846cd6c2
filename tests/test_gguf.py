"""GGUF block recipes against gguf-py's own quantizers, byte for byte, and
.gguf files read back by gguf-py's reader."""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf

gguf = pytest.importorskip("gguf")
G = gguf.GGMLQuantizationType

TYPES = {"q8_0": G.Q8_0, "q4_0": G.Q4_0, "q4_1": G.Q4_1, "q5_0": G.Q5_0, "q5_1": G.Q5_1,
         "gguf_mxfp4": G.MXFP4}
ROWS, COLS = 1024, 1024  # 2^20 values, 32768 blocks


def _half_step_blocks(rng: np.random.Generator, n: int, top: int, lo: int) -> np.ndarray:
    """Blocks whose scale is exactly a power of two s and whose values sit
    on the half steps (k + 1/2)·s, where every type rounds a tie: the block
    extreme `top`·s (or `lo`·s) fixes s."""
    s = np.float32(2.0) ** rng.integers(-20, 20, (n, 1)).astype(np.float32)
    k = rng.integers(lo, top, (n, 32)).astype(np.float32) + np.float32(0.5)
    b = k * s
    b[:, 0] = top * s[:, 0]
    b[:, 1] = lo * s[:, 0]
    return b.astype(np.float32)


def _edge_blocks(rng: np.random.Generator) -> np.ndarray:
    """Blocks at the edges of gguf-py's arithmetic, 32 values each."""
    blocks = []
    z = np.zeros(32, np.float32)
    blocks += [z, -z, np.where(rng.random(32) < 0.5, z, -z)]  # all-zero, -0, mixed ±0
    neg = rng.standard_normal(32).astype(np.float32)
    neg[7] = -10 * np.abs(neg).max()  # negative max
    blocks.append(neg)
    tie = rng.standard_normal(32).astype(np.float32)
    tie[3], tie[9] = 5.0, -5.0  # ±max: the first sets the sign of Q4_0/Q5_0's d
    tie[np.abs(tie) > 5] = 0
    blocks += [tie, -tie]
    for tiny in (1e-36, 1e-38, 1e-40, 1e-44, 2.0**-125, 2.0**-126):  # subnormal scales, 1/d = inf
        blocks.append((rng.standard_normal(32) * tiny).astype(np.float32))
    for big in (1e4, 65504.0 * 127, 1e6, 1e20, 1e37):  # half-precision scales overflow to inf
        blocks.append((rng.standard_normal(32) * big).astype(np.float32))
    const = np.full(32, 3.25, np.float32)
    blocks += [const, -const]
    for k in (-20, -1, 0, 3, 17):  # absmax one ulp (and a few) below a power of two
        for ulps in (1, 2, 7):
            b = rng.uniform(-1, 1, 32).astype(np.float32) * np.float32(2.0**k)
            b[5] = np.nextafter(np.float32(2.0**k), np.float32(0))
            for _ in range(ulps - 1):
                b[5] = np.nextafter(b[5], np.float32(0))
            blocks.append(b)
    return np.stack(blocks)


def _data(seed: int = 0) -> np.ndarray:
    """2^20 float32 values: Gaussian blocks of mixed magnitude, half-step
    ties for every type's scale, and the edge blocks, in random order."""
    rng = np.random.default_rng(seed)
    n_blocks = ROWS * COLS // 32
    mags = rng.choice([1e-30, 1e-6, 1e-2, 1.0, 300.0, 1e5], (n_blocks, 1))
    x = (rng.standard_normal((n_blocks, 32)) * mags).astype(np.float32)
    parts = [_half_step_blocks(rng, 2048, 127, -127),  # q8_0: d = 127·s / 127
             _half_step_blocks(rng, 2048, 7, -8),  # q4_0: d = -8·s / -8 (lo first: see below)
             _half_step_blocks(rng, 2048, 15, 0),  # q4_1: d = 15·s / 15
             _half_step_blocks(rng, 2048, 15, -16),  # q5_0
             _half_step_blocks(rng, 2048, 31, 0),  # q5_1
             _edge_blocks(rng)]
    parts[1][:, [0, 1]] = parts[1][:, [1, 0]]  # -8·s first: Q4_0 takes the first largest
    special = np.concatenate(parts)
    at = rng.choice(n_blocks, len(special), replace=False)
    x[at] = special
    return x.reshape(ROWS, COLS)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return _data()


@pytest.mark.parametrize("name", sorted(TYPES))
def test_blocks_equal_gguf_py(name, data):
    with np.errstate(all="ignore"):
        want = gguf.quants.quantize(data, TYPES[name])
    q = qf.quantize(data, name)
    got = np.frombuffer(q.tobytes(), np.uint8)
    assert got.size == want.size == data.size // 32 * gguf.GGML_QUANT_SIZES[TYPES[name]][1]
    bad = np.nonzero(got != want.reshape(-1))[0]
    assert bad.size == 0, f"{bad.size} bytes differ, first at block {bad[0] // q.blocks.shape[-1]}"
    assert q.nbytes == want.nbytes


@pytest.mark.parametrize("name", sorted(TYPES))
def test_dequantize_equals_gguf_py(name, data):
    q = qf.quantize(data, name)
    with np.errstate(all="ignore"):
        want = gguf.quants.dequantize(q.blocks, TYPES[name])
    got = qf.dequantize(q)
    assert got.shape == data.shape
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("name", sorted(TYPES))
def test_fields_rebuild_the_values(name):
    x = np.random.default_rng(3).standard_normal((4, 96)).astype(np.float32)
    q = qf.quantize(x, name)
    assert q.values.shape == x.shape and q.scale.shape == (4, 3, 1)
    v = q.grouped_values()
    if name == "gguf_mxfp4":
        want = qf.decode(v, "fp4_e2m1fn", dtype=np.float32) * q.scale
    else:
        want = (v.astype(np.float32) - q.zero_point.astype(np.float32)) * q.scale
        if q.minimum is not None:
            want = want + q.minimum
    np.testing.assert_array_equal(want.reshape(x.shape), q.dequantize())
    np.testing.assert_array_equal(qf.fake_quantize(x, name), q.dequantize())


def test_mistakes_are_value_errors():
    with pytest.raises(ValueError, match="multiple of 32"):
        qf.quantize(np.zeros((2, 40), np.float32), "q8_0")
    with pytest.raises(ValueError, match="finite"):
        qf.quantize(np.full(32, np.nan, np.float32), "q4_0")
    with pytest.raises(ValueError, match="group_size"):
        qf.quantize(np.zeros(32, np.float32), "q4_1", group_size=32)


def _checkpoint(path):
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(5)
    tensors = {
        "layer.weight": rng.standard_normal((64, 128)).astype(np.float32),
        "layer.bias": rng.standard_normal(64).astype(np.float32),
        "odd.weight": rng.standard_normal((8, 40)).astype(np.float32),
        "ids": np.arange(12, dtype=np.int32).reshape(3, 4),
    }
    st.save_file(tensors, str(path))
    return tensors


@pytest.mark.parametrize("to", ["q8_0", "q4_0", "q5_1", "mxfp4"])
def test_gguf_file_reads_back_in_gguf_py(tmp_path, to):
    tensors = _checkpoint(tmp_path / "m.safetensors")
    dst = tmp_path / "m.gguf"
    report = qf.quantize_file(tmp_path / "m.safetensors", dst, to)
    assert report["totals"]["converted"] == 1
    reader = gguf.GGUFReader(str(dst))
    got = {t.name: t for t in reader.tensors}
    assert set(got) == set(tensors)
    qtype = G.MXFP4 if to == "mxfp4" else TYPES[to]
    w = got["layer.weight"]
    assert w.tensor_type == qtype
    assert [int(n) for n in w.shape] == [128, 64]  # GGUF lists the innermost axis first
    want = gguf.quants.quantize(tensors["layer.weight"], qtype)
    assert np.asarray(w.data).tobytes() == want.tobytes()
    for kept in ("layer.bias", "odd.weight", "ids"):
        np.testing.assert_array_equal(np.asarray(got[kept].data).reshape(tensors[kept].shape),
                                      tensors[kept])


def test_cli_writes_gguf(tmp_path):
    from click.testing import CliRunner
    from qformat.cli import main

    tensors = _checkpoint(tmp_path / "m.safetensors")
    dst = tmp_path / "m.gguf"
    r = CliRunner().invoke(main, ["quantize", str(tmp_path / "m.safetensors"), "-o", str(dst),
                                  "--to", "q4_1", "--json"])
    assert r.exit_code == 0, r.output
    t = {t.name: t for t in gguf.GGUFReader(str(dst)).tensors}["layer.weight"]
    want = gguf.quants.quantize(tensors["layer.weight"], G.Q4_1)
    assert np.asarray(t.data).tobytes() == want.tobytes()
    r = CliRunner().invoke(main, ["quantize", str(tmp_path / "m.safetensors"), "-o", str(dst),
                                  "--to", "int8"])
    assert r.exit_code == 2 and "GGUF block type" in r.output
