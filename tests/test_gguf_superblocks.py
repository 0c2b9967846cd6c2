"""The 256-value GGUF types against gguf-py: the K-quants (Q4_K, Q5_K,
Q6_K), whose quantizer gguf-py lacks, round-trip through gguf-py's
dequantizer to our values, and our dequantizer equals gguf-py's on any
bytes; the ternary TQ1_0/TQ2_0 equal gguf-py's quantizer byte for byte.
(Byte-equality of the K-quants with llama.cpp's reference quantizer:
tests/test_gguf_ggml.py, opt-in.)"""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf
from _gguf_superblocks import QK_K, superblock_data

gguf = pytest.importorskip("gguf")
G = gguf.GGMLQuantizationType

KQUANTS = {"q4_k": G.Q4_K, "q5_k": G.Q5_K, "q6_k": G.Q6_K}
TERNARY = {"tq1_0": G.TQ1_0, "tq2_0": G.TQ2_0}
TYPES = {**KQUANTS, **TERNARY}
# byte offsets of the half-precision scales in each block
HALF_FIELDS = {"q4_k": (0, 2), "q5_k": (0, 2), "q6_k": (208,), "tq1_0": (52,), "tq2_0": (64,)}


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return superblock_data()


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_round_trip_through_gguf_py(name, data):
    q = qf.quantize(data, name)
    type_size = gguf.GGML_QUANT_SIZES[TYPES[name]][1]
    assert q.blocks.shape == (data.shape[0], data.shape[1] // QK_K * type_size)
    with np.errstate(all="ignore"):
        want = gguf.quants.dequantize(q.blocks, TYPES[name])
    got = qf.dequantize(q)
    assert got.shape == data.shape
    np.testing.assert_array_equal(_bits(got), _bits(want))


@pytest.mark.parametrize("name", sorted(TERNARY))
def test_ternary_blocks_equal_gguf_py(name, data):
    with np.errstate(all="ignore"):
        want = gguf.quants.quantize(data, TERNARY[name])
    got = qf.quantize(data, name).blocks
    bad = np.nonzero(got.reshape(-1) != want.reshape(-1))[0]
    assert bad.size == 0, f"{bad.size} bytes differ, first at byte {bad[0]}"


def _random_blocks(name: str, n: int, seed: int) -> np.ndarray:
    """``n`` blocks of random bytes whose half-precision scales are finite
    (every code, every 6-bit scale and minimum, every int8 scale)."""
    rng = np.random.default_rng(seed)
    size = gguf.GGML_QUANT_SIZES[TYPES[name]][1]
    b = rng.integers(0, 256, (n, size), dtype=np.uint8)
    for at in HALF_FIELDS[name]:
        h = b[:, at:at + 2].copy().view(np.uint16)
        h[(h & 0x7C00) == 0x7C00] ^= np.uint16(0x4000)  # inf/NaN exponent 31 -> 15
        b[:, at:at + 2] = h.view(np.uint8)
    return b


@pytest.mark.parametrize("name", sorted(TYPES))
def test_dequantizer_equals_gguf_py_on_any_bytes(name):
    n = 4096  # 2^20 values
    blocks = _random_blocks(name, n, seed=len(name))
    q = qf.quantize(np.zeros((1, QK_K), np.float32), name)
    arr = type(q)(blocks.reshape(1, -1), name, (1, n * QK_K))
    want = gguf.quants.dequantize(blocks, TYPES[name]).reshape(1, -1)
    np.testing.assert_array_equal(_bits(arr.dequantize()), _bits(want))


@pytest.mark.parametrize("name", sorted(TYPES))
def test_fields_rebuild_the_values(name, data):
    x = data[:8, :512]
    q = qf.quantize(x, name)
    groups = 512 // q.group_size
    assert q.values.shape == x.shape and q.scale.shape == (8, groups, 1)
    v = q.grouped_values().astype(np.float32)
    with np.errstate(invalid="ignore"):  # inf scales (half overflow) times code 0
        want = (v - q.zero_point.astype(np.float32)) * q.scale
    if q.minimum is not None:
        want = want + q.minimum
    np.testing.assert_array_equal(_bits(want.reshape(x.shape)), _bits(q.dequantize()))
    assert int(q.values.max()) < 2**q.format.bits


@pytest.mark.parametrize("name", sorted(KQUANTS))
def test_error_is_what_the_code_count_allows(name):
    # Gaussian data: the K-quants' RMS error relative to the RMS value.
    x = np.random.default_rng(11).standard_normal((64, 1024)).astype(np.float32)
    err = qf.fake_quantize(x, name) - x
    rel = float(np.sqrt(np.mean(err.astype(np.float64) ** 2)))
    bound = {"q4_k": 0.11, "q5_k": 0.055, "q6_k": 0.03}[name]
    assert 0 < rel < bound


@pytest.mark.parametrize("name", sorted(TYPES))
def test_zero_blocks_are_zero_and_constant_blocks_are_near(name):
    q = qf.quantize(np.zeros((2, QK_K), np.float32), name)
    np.testing.assert_array_equal(q.dequantize(), 0)
    c = np.full((1, QK_K), 3.25, np.float32)
    back = qf.fake_quantize(c, name)
    if name in TERNARY:
        np.testing.assert_array_equal(back, c)  # d = absmax, every code +1
    else:
        np.testing.assert_allclose(back, c, rtol=2e-3)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_non_finite_values_and_partial_blocks_are_value_errors(name):
    x = np.zeros((2, QK_K), np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        x[1, 7] = bad
        with pytest.raises(ValueError, match="finite"):
            qf.quantize(x, name)
    with pytest.raises(ValueError, match="multiple of 256"):
        qf.quantize(np.zeros((2, 288), np.float32), name)


def test_gguf_file_holds_the_same_blocks(tmp_path):
    from click.testing import CliRunner
    from qformat.cli import main

    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(2)
    tensors = {"w": rng.standard_normal((16, 512)).astype(np.float32),
               "short": rng.standard_normal((4, 96)).astype(np.float32)}
    st.save_file(tensors, str(tmp_path / "m.safetensors"))
    for to in sorted(TYPES):
        dst = tmp_path / f"m-{to}.gguf"
        r = CliRunner().invoke(main, ["quantize", str(tmp_path / "m.safetensors"), "-o", str(dst),
                                      "--to", to, "--json"])
        assert r.exit_code == 0, r.output
        got = {t.name: t for t in gguf.GGUFReader(str(dst)).tensors}
        assert got["w"].tensor_type == TYPES[to]
        assert np.asarray(got["w"].data).tobytes() == qf.quantize(tensors["w"], to).tobytes()
        # 96 values per row make no 256-value block: kept as float32
        assert got["short"].tensor_type == G.F32
        np.testing.assert_array_equal(np.asarray(got["short"].data).reshape(4, 96),
                                      tensors["short"])
