"""Scaling recipes against torchao's own quantizers on CPU, bit for bit:
MX scale rules (``scale_rule=``, torchao's ScaleCalculationMode)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import qformat as qf

torch = pytest.importorskip("torch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    mx_tensor = pytest.importorskip("torchao.prototype.mx_formats.mx_tensor")
    mx_constants = pytest.importorskip("torchao.prototype.mx_formats.constants")

MODES = ("floor", "ceil", "even", "rceil")
ELEMENTS = {
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
    "fp6_e2m3fn": mx_constants.DTYPE_FP6_E2M3,
    "fp6_e3m2fn": mx_constants.DTYPE_FP6_E3M2,
    "fp4_e2m1fn": torch.float4_e2m1fn_x2,
}
ROWS, COLS = 1024, 1024  # 2^20 values, 32768 blocks of 32


def _ulps_from(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    """float32 ``v`` moved by ``n`` ulps (negative: toward zero)."""
    return (v.astype(np.float32).view(np.int32) + n.astype(np.int32)).view(np.float32)


def _mx_edge_blocks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Blocks whose largest magnitude sits where the rules part ways: at,
    one ulp below and a few ulps above a power of two, and at the EVEN
    rounding point 2^k·(2 - 2^-(m+1)) of each element's mantissa width m."""
    k = rng.integers(-100, 120, n)  # scale codes > 0: see the tiny-block test
    base = np.ldexp(np.ones(n, np.float32), k).astype(np.float32)
    mant = rng.choice([1.0, 2 - 2.0**-2, 2 - 2.0**-3, 2 - 2.0**-4, 1.5, 1.75], n)
    amax = _ulps_from((base * mant).astype(np.float32), rng.integers(-3, 4, n))
    b = rng.uniform(-1, 1, (n, 32)).astype(np.float32) * amax[:, None]
    b[np.arange(n), rng.integers(0, 32, n)] = amax * rng.choice([-1, 1], n)
    return b.astype(np.float32)


def _mx_tie_blocks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Blocks of power-of-two amax whose values are midpoints between
    neighbouring fp4/fp6/fp8 values (a multiple of a small power of two)."""
    k = rng.integers(-60, 60, (n, 1))
    steps = rng.integers(-64, 65, (n, 32)) + 0.5
    b = np.ldexp(steps / 16.0, k).astype(np.float32)
    b[:, 0] = np.ldexp(4.0, k[:, 0])
    return b


def _mx_data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_blocks = ROWS * COLS // 32
    mags = rng.choice([2.0**-100, 1e-6, 1e-2, 1.0, 300.0, 1e6, 1e30], (n_blocks, 1))
    x = (rng.standard_normal((n_blocks, 32)) * mags).astype(np.float32)
    x[rng.random(x.shape) < 0.02] = 0.0
    x[rng.random(x.shape) < 0.01] = -0.0
    sub = rng.random(x.shape) < 0.01  # float32 subnormal elements in normal blocks
    x[sub] = (rng.standard_normal(sub.sum()) * 2.0**-135).astype(np.float32)
    special = [_mx_edge_blocks(rng, 4096), _mx_tie_blocks(rng, 4096),
               np.zeros((4, 32), np.float32), -np.zeros((4, 32), np.float32)]
    special = np.concatenate(special)
    x[rng.choice(n_blocks, len(special), replace=False)] = special
    return x.reshape(ROWS, COLS)


def torchao_mx(x: np.ndarray, elem: str, mode: str) -> tuple:
    """(e8m0 scale codes, element codes) from torchao's ``to_mx`` on CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, d = mx_tensor.to_mx(torch.from_numpy(x), ELEMENTS[elem], 32,
                               mx_tensor.ScaleCalculationMode(mode))
    scales = s.view(torch.uint8).numpy().reshape(-1)
    if elem == "fp4_e2m1fn":  # fp4x2: element 2i in the low nibble
        p = d.view(torch.uint8).numpy().reshape(-1)
        codes = np.empty(2 * p.size, np.uint8)
        codes[0::2], codes[1::2] = p & 0xF, p >> 4
    else:
        codes = d.view(torch.uint8).numpy().reshape(-1)
    return scales, codes


@pytest.fixture(scope="module")
def mx_data() -> np.ndarray:
    return _mx_data()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("elem", sorted(ELEMENTS))
def test_mx_scale_rules_equal_torchao(elem, mode, mx_data):
    want_scales, want_codes = torchao_mx(mx_data, elem, mode)
    q = qf.quantize(mx_data, elem, group_size=32, scale_format="e8m0", scale_rule=mode)
    scales = qf.encode(q.scale.reshape(-1), "e8m0")
    np.testing.assert_array_equal(scales, want_scales)
    # torchao reads e8m0 code 0 (2^-127) as 2^-126 (FLOOR/CEIL/EVEN clamp the
    # float32 scale to the smallest normal) or as 1.0 (RCEIL): only blocks
    # whose largest magnitude is below ~2^-119 get it; here only all-zero ones.
    zero_blocks = ~mx_data.reshape(-1, 32).any(axis=1)
    np.testing.assert_array_equal(want_scales == 0, zero_blocks)
    codes = q.values.reshape(-1)
    bad = np.nonzero(codes != want_codes)[0]
    assert bad.size == 0, f"{bad.size} codes differ, first at {bad[0]}: x={mx_data.flat[bad[0]]!r}"


@pytest.mark.parametrize("mode", MODES)
def test_mx_scale_rules_on_all_zero_and_tiny_blocks(mode):
    """Blocks whose scale is e8m0's smallest, 2^-127: qformat divides by
    2^-127 as OCP MX says; torchao divides by 2^-126 (FLOOR, CEIL, EVEN) or
    by 1 (RCEIL). The scale codes agree; the elements agree on all-zero
    blocks and, for the other blocks, after torchao's own reading."""
    x = np.zeros((3, 32), np.float32)
    x[1, :3] = [2.0**-130, -(2.0**-128), 2.0**-140]
    x[2] = -0.0
    want_scales, want_codes = torchao_mx(x, "fp8_e4m3fn", mode)
    q = qf.quantize(x, "fp8_e4m3fn", group_size=32, scale_format="e8m0", scale_rule=mode)
    np.testing.assert_array_equal(qf.encode(q.scale.reshape(-1), "e8m0"), want_scales)
    assert (want_scales == 0).all()
    codes = q.values.reshape(3, 32)
    np.testing.assert_array_equal(codes[[0, 2]], want_codes.reshape(3, 32)[[0, 2]])
    torchao_scale = 1.0 if mode == "rceil" else 2.0**-126
    their = qf.encode(x[1].astype(np.float64) / torchao_scale, "fp8_e4m3fn")
    np.testing.assert_array_equal(their, want_codes.reshape(3, 32)[1])
    np.testing.assert_array_equal(codes[1], qf.encode(x[1].astype(np.float64) * 2.0**127,
                                                      "fp8_e4m3fn"))


def test_scale_rule_mistakes():
    x = np.ones(32, np.float32)
    with pytest.raises(ValueError, match="scale_rule must be"):
        qf.quantize(x, "fp4_e2m1fn", group_size=32, scale_format="e8m0", scale_rule="round")
    with pytest.raises(ValueError, match="power-of-two"):
        qf.quantize(x, "fp4_e2m1fn", group_size=32, scale_rule="ceil")


# ---------------------------------------------------------------------------
# NVFP4


nvfp4_tensor = pytest.importorskip("torchao.prototype.mx_formats.nvfp4_tensor")


def _nvfp4_data(seed: int = 1) -> np.ndarray:
    """2^20 values, tensor amax 2688 (per-tensor scale exactly 1): Gaussian
    blocks of mixed magnitude, blocks whose e4m3 scale is a power of two
    and whose values sit on e2m1 midpoints (ties), block scales on e4m3
    midpoints, blocks so small their scale is clamped to 2^-6, zero and
    subnormal values."""
    rng = np.random.default_rng(seed)
    n_blocks = ROWS * COLS // 16
    mags = rng.choice([1e-9, 1e-3, 1.0, 30.0, 400.0], (n_blocks, 1))
    x = (rng.standard_normal((n_blocks, 16)) * mags).astype(np.float32)
    x = np.clip(x, -2600, 2600)
    x[rng.random(x.shape) < 0.02] = 0.0
    x[rng.random(x.shape) < 0.01] = -0.0
    sub = rng.random(x.shape) < 0.01
    x[sub] = (rng.standard_normal(sub.sum()) * 2.0**-140).astype(np.float32)
    n = 8192
    k = rng.integers(-6, 8, (n, 1))  # block scale 2^k, exact in e4m3
    mids = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0])
    ties = rng.choice(mids, (n, 16)) * rng.choice([-1, 1], (n, 16))
    ties[:, 0] = 6.0
    ties = np.ldexp(ties, k).astype(np.float32)
    e4m3_mid = rng.choice(np.arange(16, 120), (n, 1)) + 0.5  # block scale between two e4m3 codes
    mid_blocks = (rng.uniform(-1, 1, (n, 16)) * e4m3_mid / 16 * 6).astype(np.float32)
    mid_blocks[:, 0] = (e4m3_mid[:, 0] / 16 * 6).astype(np.float32)
    special = np.concatenate([ties, mid_blocks, np.zeros((4, 16), np.float32)])
    x[rng.choice(n_blocks, len(special), replace=False)] = special
    x.reshape(-1)[rng.integers(x.size)] = 2688.0
    return x.reshape(ROWS, COLS)


def torchao_nvfp4(x: np.ndarray) -> tuple:
    """(per-tensor scale, e4m3 scale bytes, packed fp4x2 bytes, dequantized)."""
    t = torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pts = nvfp4_tensor.per_tensor_amax_to_scale(torch.max(torch.abs(t)))
        scales, packed = nvfp4_tensor.nvfp4_quantize(t, 16, pts)
        deq = nvfp4_tensor.NVFP4Tensor.to_nvfp4(t, per_tensor_scale=pts).dequantize(
            torch.float32)
    return (pts.numpy(), scales.view(torch.uint8).numpy(), packed.view(torch.uint8).numpy(),
            deq.numpy())


def _order_sensitive_blocks(amax: np.float32) -> np.ndarray:
    """Blocks whose codes depend on torchao's order of float32 operations:
    ``x * ((1/t) / s)`` and ``x * (1 / (s·t))`` round to different e2m1
    codes for them (t = amax/2688, s every normal e4m3 block scale)."""
    t = np.float32(amax / np.float32(2688.0))
    s = qf.decode(np.arange(0x08, 0x7F, dtype=np.uint8), "fp8_e4m3fn", dtype=np.float32)
    r_torchao = (np.float32(1) / t) / s
    r_other = np.float32(1) / (s * t)
    mids = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0], np.float32)
    x0 = (mids[None, :] / r_torchao[:, None]).astype(np.float32)
    blocks = []
    for ulps in range(-3, 4):
        x = (x0.view(np.int32) + ulps).view(np.float32)
        a = qf.encode((x * r_torchao[:, None]).astype(np.float32), "fp4_e2m1fn")
        b = qf.encode((x * r_other[:, None]).astype(np.float32), "fp4_e2m1fn")
        for i, j in zip(*np.nonzero(a != b)):
            blk = np.zeros(16, np.float32)
            blk[0] = np.float32(s[i] * t * np.float32(6))  # gives block scale s[i]
            blk[1:] = x[i, j]
            blocks.append(blk)
    assert len(blocks) > 20  # the data must hold such blocks, or the test proves nothing
    return np.stack(blocks)


@pytest.mark.parametrize("data", ["ties", "order"])
def test_nvfp4_equals_torchao(data):
    if data == "ties":  # 2^20 values, per-tensor scale 1
        x = _nvfp4_data()
    else:  # a per-tensor scale far from a power of two, blocks where rounding order shows
        amax = np.float32(2688 * 0.7071)
        rng = np.random.default_rng(2)
        x = (rng.standard_normal((4096, 16)) * 100).astype(np.float32)
        blocks = _order_sensitive_blocks(amax)
        x[: len(blocks)] = blocks
        x[-1, 0] = amax
        x = x.reshape(256, 256)
    pts, scales, packed, deq = torchao_nvfp4(x)
    q = qf.quantize(x, "nvfp4")
    assert np.float32(q.tensor_scale).tobytes() == pts.tobytes()
    np.testing.assert_array_equal(q.scale_codes, scales.reshape(q.scale_codes.shape))
    bad = np.nonzero(q.packed.reshape(-1) != packed.reshape(-1))[0]
    assert bad.size == 0, f"{bad.size} packed bytes differ, first at {bad[0]}"
    assert q.tobytes() == packed.tobytes()
    np.testing.assert_array_equal(q.dequantize().view(np.uint32), deq.view(np.uint32))


def test_nvfp4_fields_and_mistakes():
    x = np.random.default_rng(3).standard_normal((2, 48)).astype(np.float32)
    q = qf.quantize(x, "nvfp4")
    assert q.values.shape == x.shape and q.scale.shape == (2, 3, 1)
    assert q.nbytes == 48 + 6 + 4
    np.testing.assert_array_equal(qf.fake_quantize(x, "nvfp4"), q.dequantize())
    zero = qf.quantize(np.zeros((1, 16), np.float32), "nvfp4")  # usable scale, zero codes
    assert np.isfinite(zero.scale).all() and (zero.scale > 0).all()
    assert not zero.dequantize().any()
    with pytest.raises(ValueError, match="multiple of 16"):
        qf.quantize(np.ones((2, 20), np.float32), "nvfp4")
    with pytest.raises(ValueError, match="finite"):
        qf.quantize(np.full((1, 16), np.inf, np.float32), "nvfp4")


def _nvfp4_values_by_numpy(q) -> np.ndarray:
    """The NVFP4 values by their formula in NumPy float32 (torchao's
    ``dequantize``): ``decode(e2m1 codes) * (decode(e4m3 scale) * t)``."""
    v = qf.decode(q.grouped_values(), "fp4_e2m1fn", dtype=np.float32)
    with np.errstate(all="ignore"):  # NaN scales, and 0 times an infinite scale
        return (v * q.scale).reshape(q.shape)


@pytest.mark.parametrize("t", [1.0, 2.0**-127, 0.7071, 3.0e36, 1.1e-20])
def test_nvfp4_dequantize_equals_its_formula_for_every_code_pair(t):
    """Every e2m1 code under every e4m3 scale code (NaN scales included),
    under tensor scales that make products overflow, go subnormal or round:
    the Rust pass gives the NumPy formula's bits, in float32 and float64."""
    from qformat._nvfp4 import NVFP4Array
    codes = np.tile(np.arange(16, dtype=np.uint8), 256)
    packed = (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8).reshape(256, 8)
    scales = np.arange(256, dtype=np.uint8).reshape(256, 1)
    q = NVFP4Array(packed, scales, t, (256, 16))
    want = _nvfp4_values_by_numpy(q)
    got = q.dequantize()
    assert got.dtype == np.float32 and got.shape == (256, 16)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(q.dequantize(np.float64), want.astype(np.float64))
    assert np.isnan(got[0x7F]).all() and np.isinf(got).any() == (t > 1e35)


def test_nvfp4_dequantize_reads_views_and_refuses_mismatched_fields():
    x = np.random.default_rng(4).standard_normal((6, 64)).astype(np.float32)
    q = qf.quantize(x, "nvfp4")
    want = _nvfp4_values_by_numpy(q)
    q.packed = np.asfortranarray(q.packed)  # a non-contiguous layout of the same codes
    q.scale_codes = q.scale_codes[::-1][::-1]
    np.testing.assert_array_equal(q.dequantize().view(np.uint32), want.view(np.uint32))
    q.scale_codes = q.scale_codes[:, :3]
    with pytest.raises(ValueError, match="NVFP4 dequantize needs"):
        q.dequantize()


# ---------------------------------------------------------------------------
# DeepSeek-V3 FP8 blocks. No installable library ships DeepSeek's weight
# quantizer (its kernel is Triton), so the reference is a TRANSCRIPTION of
# its formula in torch on CPU: s = amax / 448 per 128x128 block, codes
# (w / s).to(float8_e4m3fn), dequantized as codes.float() * s.


def deepseek_fp8_reference(w: np.ndarray, pow2: bool) -> tuple:
    t = torch.from_numpy(w)
    m, n = t.shape
    bm, bn = -(-m // 128), -(-n // 128)
    padded = torch.zeros(bm * 128, bn * 128)
    padded[:m, :n] = t
    blocks = padded.view(bm, 128, bn, 128)
    amax = blocks.abs().amax(dim=(1, 3))
    s = amax / 448.0
    if pow2:  # 2^ceil(log2(amax/448)) from the exact quotient
        s = torch.tensor([[2.0 ** _exact_ceil_log2(float(a) / 448.0, float(a)) for a in row]
                          for row in amax.tolist()], dtype=torch.float32)
    s = torch.where(amax == 0, torch.ones_like(s), s)
    codes = (blocks / s[:, None, :, None]).to(torch.float8_e4m3fn)
    codes = codes.view(bm * 128, bn * 128)[:m, :n]
    deq = codes.float().view(torch.float32)
    per_el = s.repeat_interleave(128, 0).repeat_interleave(128, 1)[:m, :n]
    return codes.view(torch.uint8).numpy(), s.numpy(), (deq * per_el).numpy()


def _exact_ceil_log2(q: float, amax: float) -> int:
    from fractions import Fraction

    if amax == 0:
        return 0  # replaced by scale 1 below
    k = int(np.ceil(np.log2(q)))
    exact = Fraction(amax) / 448
    while Fraction(2) ** (k - 1) >= exact:
        k -= 1
    while Fraction(2) ** k < exact:
        k += 1
    return k


@pytest.mark.parametrize("pow2", [False, True])
def test_fp8_block128_equals_deepseek_transcription(pow2):
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((1000, 1100)) * 0.02).astype(np.float32)  # edge blocks: 1000, 1100
    w[:128, :128] = 0.0  # an all-zero block
    w[128:256, :128] *= 1e-30  # subnormal-scale neighbourhood
    w[256:384, :128] *= 1e4
    w[384, 5] = np.float32(448 * 2.0**-3)  # amax/448 exactly a power of two
    w[512:640, 128:256] = np.round(w[512:640, 128:256] * 1e4) / 1e4
    codes, scales, deq = deepseek_fp8_reference(w, pow2)
    q = qf.quantize(w, "fp8_block128", pow2_scales=pow2)
    assert q.weight_scale_inv.shape == (8, 9)
    np.testing.assert_array_equal(q.weight_scale_inv.view(np.uint32), scales.view(np.uint32))
    np.testing.assert_array_equal(q.values, codes)
    assert q.tobytes() == codes.tobytes()
    np.testing.assert_array_equal(q.dequantize().view(np.uint32), deq.view(np.uint32))
    if pow2:
        m, e = np.frexp(q.weight_scale_inv)
        assert (m == 0.5).all()


def test_fp8_block128_mistakes():
    with pytest.raises(ValueError, match="2-D"):
        qf.quantize(np.ones(128, np.float32), "fp8_block128")
    with pytest.raises(ValueError, match="pow2_scales"):
        qf.quantize(np.ones(32, np.float32), "q8_0", pow2_scales=True)
    with pytest.raises(ValueError, match="pow2_scales"):
        qf.quantize(np.ones(32, np.float32), "int8", pow2_scales=True)


@pytest.mark.parametrize("mode", ["floor", "rceil"])
def test_mx_recipe_names_and_bytes(mode):
    x = np.random.default_rng(6).standard_normal((64, 256)).astype(np.float32)
    for name, elem in (("mxfp8", "fp8_e4m3fn"), ("mxfp4", "fp4_e2m1fn"),
                       ("mxfp6_e2m3", "fp6_e2m3fn")):
        q = qf.quantize(x, name, scale_rule=mode)
        ref = qf.quantize(x, elem, group_size=32, scale_format="e8m0", scale_rule=mode)
        np.testing.assert_array_equal(q.values, ref.values)
        np.testing.assert_array_equal(q.scale, ref.scale)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, data = mx_tensor.to_mx(torch.from_numpy(x), ELEMENTS[elem], 32,
                                      mx_tensor.ScaleCalculationMode(mode))
        assert q.tobytes() == data.view(torch.uint8).numpy().tobytes()
    with pytest.raises(ValueError, match="group_size"):
        qf.quantize(x, "mxfp4", group_size=16)


def _numpy_fp8_block(w: np.ndarray, pow2: bool) -> tuple:
    """qformat's NumPy fp8_block128 before the Rust port, kept as the
    reference the port must equal bit for bit: (codes, weight_scale_inv)."""
    m, n = w.shape
    bm, bn = -(-m // 128), -(-n // 128)
    padded = np.zeros((bm * 128, bn * 128), np.float32)
    padded[:m, :n] = np.abs(w)
    amax = padded.reshape(bm, 128, bn, 128).max(axis=(1, 3))
    with np.errstate(divide="ignore"):
        if pow2:
            a = np.where(amax == 0, 448.0, amax.astype(np.float64))
            k = np.ceil(np.log2(a / 448.0))
            k = np.where(np.ldexp(448.0, (k - 1).astype(np.int32)) >= a, k - 1, k)
            k = np.where(np.ldexp(448.0, k.astype(np.int32)) < a, k + 1, k)
            s = np.ldexp(np.float32(1), k.astype(np.int32)).astype(np.float32)
        else:
            s = amax / np.float32(448.0)
    s = np.maximum(np.where(amax == 0, np.float32(1), s).astype(np.float32),
                   np.float32(2.0**-149))
    per_element = np.repeat(np.repeat(s, 128, 0), 128, 1)[:m, :n]
    return qf.encode(w / per_element, "fp8_e4m3fn", profile="torch-cpu"), s


def _fp8_block_values_by_numpy(q) -> np.ndarray:
    """The fp8_block128 values by their formula in NumPy float32: each
    code's e4m3 value times its block's scale, broadcast over the block."""
    m, n = q.values.shape
    s = np.repeat(np.repeat(q.weight_scale_inv, 128, 0), 128, 1)[:m, :n]
    with np.errstate(all="ignore"):
        return qf.decode(q.values, "fp8_e4m3fn", dtype=np.float32) * s


@pytest.mark.parametrize("shape", [(256, 256), (1, 1), (130, 300), (515, 129)])
def test_fp8_block128_dequantize_equals_its_formula_for_every_code(shape):
    """Every e4m3 code (NaN included) under scales from 2^-149 to 3e38, in
    full and edge blocks: the Rust pass gives the NumPy formula's bits."""
    from qformat._fp8block import FP8BlockArray
    m, n = shape
    codes = (np.arange(m * n) * 7 % 256).astype(np.uint8).reshape(m, n)
    bm, bn = -(-m // 128), -(-n // 128)
    pool = np.array([1.0, 2.0**-149, 3.1e-20, 0.7071, 448.0, 3.0e38], np.float32)
    scales = pool[np.arange(bm * bn) % pool.size].reshape(bm, bn)
    q = FP8BlockArray(codes, scales)
    want = _fp8_block_values_by_numpy(q)
    got = q.dequantize()
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(q.dequantize(np.float64), want.astype(np.float64))
    q.weight_scale_inv = scales[:, :0]
    with pytest.raises(ValueError, match="scales"):
        q.dequantize()


@pytest.mark.parametrize("pow2", [False, True])
def test_fp8_block128_equals_the_numpy_implementation(pow2):
    # Scales down to the smallest float32, where x / s can pass 448
    # (amax / 448 rounds down to 2^-149) and the fp8 cast overflows to NaN.
    rng = np.random.default_rng(8)
    w = rng.standard_normal((515, 700)).astype(np.float32)
    mags = rng.choice([0.0, 1e-45, 1e-43, 1e-40, 1e-38, 1e-3, 1.0, 1e30], (5, 6))
    w *= np.repeat(np.repeat(mags, 128, 0), 128, 1)[:515, :700].astype(np.float32)
    w[300:, 650:] = np.float32(3.4e38)
    codes, scales = _numpy_fp8_block(w, pow2)
    q = qf.quantize(w, "fp8_block128", pow2_scales=pow2)
    np.testing.assert_array_equal(q.weight_scale_inv.view(np.uint32), scales.view(np.uint32))
    np.testing.assert_array_equal(q.values, codes)
    with pytest.raises(ValueError, match="finite"):
        w[3, 4] = np.inf
        qf.quantize(w, "fp8_block128", pow2_scales=pow2)
