"""Profiles against the real libraries, bit for bit, on 2^20 inputs per
(source, target) that contain every class of input: every value of the
target, every exact tie between neighbours, the source-precision neighbours of
each tie, float32 neighbours of ties in float64, subnormals, the overflow
boundary, infinities, NaNs with many payloads and both signs, and random bit
patterns. Also the array conventions of the API (shapes, strides, byte order,
read-only, 0-d, empty, out=, bad dtypes, lists, scalars, integers, ml_dtypes
inputs). Measured library behaviour: docs/verification/findings.md."""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf
from _optional import lazy, resolve

ml_dtypes = lazy("ml_dtypes")
torch = lazy("torch")


N = 1 << 20          # a multiple of 16: see the bf16 note in test_torch_cpu
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _finite_values(fmt) -> np.ndarray:
    """Every finite non-negative value of an 8/16-bit format, increasing."""
    codes = np.arange(1 << fmt.bits, dtype=np.uint64).astype(fmt.storage_dtype)
    v = qf.decode(codes, fmt)
    v = v[np.isfinite(v) & ~np.signbit(v)]
    return np.unique(v)


def _class_inputs(fmt, dtype) -> np.ndarray:
    """Every tie / near-tie / subnormal / overflow / NaN class for ``fmt``, in ``dtype``."""
    v = _finite_values(fmt)
    vmax = v[-1]
    step = 2.0 ** (np.floor(np.log2(vmax)) - fmt.man_bits)
    grid = np.concatenate([v, [vmax + step, vmax + 2 * step]])
    mids = (grid[:-1] + grid[1:]) / 2              # exact in float64
    base = np.concatenate([grid, mids, [vmax * 2, 1e30, 3.4e38, 2.0**-127, 1.25 * 2**-127,
                                        1.5 * 2**-127, 2.0**-149, 2.0**-126]])
    parts = [base.astype(dtype)]
    for d in (dtype, np.float32):
        b = base.astype(d)
        parts += [np.nextafter(b, d(np.inf)).astype(dtype), np.nextafter(b, d(0)).astype(dtype)]
    if dtype == np.float64:
        parts.append(np.array([1e300, 1e-300, 5e-324, np.finfo(np.float64).max]))
    x = np.concatenate(parts)
    x = np.concatenate([x, -x, np.array([0.0, -0.0, np.inf, -np.inf], dtype=dtype)])
    nan32 = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FD23456, 0xFFA00001, 0x7FFFFFFF,
                      0xFF800001, 0x7FA00000], dtype=np.uint32).view(np.float32)
    nan64 = np.array([0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001,
                      0x7FFA468AC0000000, 0xFFF4000000200000, 0x7FFFFFFFFFFFFFFF],
                     dtype=np.uint64).view(np.float64)
    sub32 = np.array([1, 2, 0x3FFFFF, 0x400000, 0x400001, 0x500000, 0x5FFFFF, 0x600000,
                      0x7FFFFF], dtype=np.uint32).view(np.float32)
    extra = [nan32.astype(dtype), sub32.astype(dtype), -sub32.astype(dtype)]
    if dtype == np.float64:
        extra.append(nan64)
    return np.concatenate([x] + extra)


def _random_fill(x: np.ndarray, fmt, dtype, seed: int) -> np.ndarray:
    """Pad ``x`` to N with random inputs: raw float32 bit patterns, values
    near the target's values with random low bits, and random f64 tails."""
    rng = np.random.default_rng(seed)
    need = N - x.size
    k = need // 3
    raw = rng.integers(0, 1 << 32, k, dtype=np.uint64).astype(np.uint32).view(np.float32)
    v = _finite_values(fmt)
    near = rng.choice(v, k) * (1 + rng.uniform(-2.0**-fmt.man_bits, 2.0**-fmt.man_bits, k))
    near *= rng.choice([-1.0, 1.0], k)
    rest = need - 2 * k
    mids = rng.choice(v, rest)
    mids = mids + rng.integers(0, 2, rest) * (mids * 2.0**-(fmt.man_bits + 1))
    if dtype == np.float64:
        tails = mids.view(np.uint64) + rng.integers(-3, 4, rest).astype(np.uint64)
        mids = tails.view(np.float64)
    else:
        m32 = mids.astype(np.float32).view(np.uint32).astype(np.int64)
        mids = (m32 + rng.integers(-2, 3, rest)).astype(np.uint32).view(np.float32)
    out = np.concatenate([x, raw.astype(dtype), near.astype(dtype), mids.astype(dtype)])
    assert out.size == N
    return out


_CACHE: dict = {}


def inputs(fmt, dtype) -> np.ndarray:
    key = (fmt.name, np.dtype(dtype).name)
    if key not in _CACHE:
        _CACHE[key] = _random_fill(_class_inputs(fmt, dtype), fmt, dtype, seed=len(key[0]))
    return _CACHE[key]


def _mismatch(x, got, want):
    bad = np.flatnonzero(got != want)
    if bad.size:
        i = bad[0]
        w = x.view(f"u{x.itemsize}")
        raise AssertionError(f"{bad.size} of {x.size} differ; first x={x[i]!r} bits "
                             f"{int(w[i]):#x}: ours {int(got[i]):#x}, theirs {int(want[i]):#x}")


# ---------------------------------------------------------------------------
# torch CPU

TORCH = {
    "fp16": "torch.float16", "bf16": "torch.bfloat16", "fp8_e4m3fn": "torch.float8_e4m3fn",
    "fp8_e4m3fnuz": "torch.float8_e4m3fnuz", "fp8_e5m2": "torch.float8_e5m2",
    "fp8_e5m2fnuz": "torch.float8_e5m2fnuz", "fp8_e8m0fnu": "torch.float8_e8m0fnu",
}


def _torch_bits(x: np.ndarray, dtype) -> np.ndarray:
    t = torch.from_numpy(x).to(dtype)
    word = torch.int16 if t.element_size() == 2 else torch.uint8
    return t.view(word).numpy().view(np.uint16 if t.element_size() == 2 else np.uint8)


def _e8m0_quirk(x: np.ndarray) -> np.ndarray:
    """torch's and ml_dtypes' e8m0 casts read the float32 exponent field so
    that every float32 subnormal in (2^-127, 1.5*2^-127) goes up to 2^-126
    (code 01) although 2^-127 (code 00) is nearer (findings.md 1.6). The
    profiles reproduce it (f32_subnormal_ceil); the tests check these inputs
    are present so that the rule is really exercised."""
    a = np.abs(x.astype(np.float32)).astype(np.float64)
    return (a > 2.0**-127) & (a < 1.5 * 2.0**-127)


@pytest.mark.parametrize("src", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_cpu(name, src):
    """profile="torch-cpu" equals Tensor.to(dtype) on contiguous CPU tensors.
    bf16 from f64: torch's vector kernel gives 0xFFFF for a NaN only in full
    blocks of 16 and 0x7FC0 in the tail (findings.md 1.1); N is a multiple of
    16, so every element is in a full block (test_torch_bf16_f64_nan_tail
    records the tail behaviour)."""
    fmt = qf.format(name)
    x = inputs(fmt, src)
    assert x.size >= 1_000_000 and x.size % 16 == 0 and x.flags.c_contiguous
    want = _torch_bits(x, resolve(TORCH[name]))
    got = qf.encode(x, fmt, profile="torch-cpu")
    if name == "fp8_e8m0fnu":
        assert _e8m0_quirk(x).sum() >= 4    # the quirk's inputs are really there
    _mismatch(x, got, want)


def test_torch_bf16_f64_nan_tail():
    """Known departure, kept visible: in torch's contiguous f64->bf16 cast a
    NaN in the last n % 16 elements becomes 0x7FC0, in a full block 0xFFFF.
    The torch-cpu profile gives 0xFFFF (the full-block result) everywhere."""
    x = np.full(17, np.nan)
    theirs = _torch_bits(x, torch.bfloat16)
    assert list(theirs[:16]) == [0xFFFF] * 16 and theirs[16] == 0x7FC0
    assert list(qf.encode(x, qf.bf16, profile="torch-cpu")) == [0xFFFF] * 17


@pytest.mark.parametrize("src_dtype,src_torch", [(np.float16, "torch.float16"),
                                                 ("ml_dtypes.bfloat16", "torch.bfloat16")],
                         ids=["f16", "bf16"])
@pytest.mark.parametrize("name", ["fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2", "fp8_e5m2fnuz",
                                  "fp16", "bf16"])
def test_torch_cpu_from_16_bit_sources(name, src_dtype, src_torch):
    src_dtype, src_torch = resolve(src_dtype), resolve(src_torch)
    """Every float16 / bfloat16 pattern (x16, so blocks are full) into each target.
    Same-type casts are excluded on purpose: torch's .to(own dtype) returns the
    tensor itself (signalling NaNs untouched), which is no conversion at all,
    while qformat's encode quiets NaNs as IEEE convertFormat does."""
    if src_torch == resolve(TORCH[name]):
        pytest.skip("identity cast: not a conversion in torch (see docstring)")
    codes = np.tile(np.arange(1 << 16, dtype=np.uint16), 16)
    x = codes.view(src_dtype)
    t = torch.from_numpy(codes.view(np.int16)).view(src_torch).to(resolve(TORCH[name]))
    word = torch.int16 if t.element_size() == 2 else torch.uint8
    want = t.view(word).numpy().view(np.uint16 if t.element_size() == 2 else np.uint8)
    got = qf.encode(x, name, profile="torch-cpu")
    _mismatch(codes, got, want)


# ---------------------------------------------------------------------------
# numpy and ml_dtypes

@pytest.mark.parametrize("src", [np.float32, np.float64], ids=["f32", "f64"])
def test_numpy_float16(src):
    x = inputs(qf.fp16, src)
    want = x.astype(np.float16).view(np.uint16)
    _mismatch(x, qf.encode(x, qf.fp16, profile="numpy"), want)
    r = qf.round(x, qf.fp16, profile="numpy")
    theirs = x.astype(np.float16).astype(src)
    snan = np.isnan(theirs) & ~(x.astype(np.float16).view(np.uint16) & 0x200).astype(bool)
    np.testing.assert_array_equal(r[~snan].view(f"u{x.itemsize}"),
                                  theirs[~snan].view(f"u{x.itemsize}"))


@pytest.mark.parametrize("src", [np.float32, np.float64], ids=["f32", "f64"])
def test_round_is_decode_of_encode_for_signalling_nans(src):
    x = np.array([0x7F800001, 0xFFA00001, 0x7FD23456], np.uint32).view(np.float32).astype(src)
    for kw in ({"profile": "numpy"}, {"nan": 0x7C01}):
        want = qf.decode(qf.encode(x, qf.fp16, **kw), qf.fp16, dtype=src)
        np.testing.assert_array_equal(qf.round(x, qf.fp16, **kw).view(f"u{x.itemsize}"),
                                      want.view(f"u{x.itemsize}"))
    np.testing.assert_array_equal(qf.round(x, qf.fp16, profile="numpy").view(f"u{x.itemsize}"),
                                  x.astype(np.float16).astype(src).view(f"u{x.itemsize}"))


ML = {
    "bf16": "ml_dtypes.bfloat16", "fp8_e4m3fn": "ml_dtypes.float8_e4m3fn",
    "fp8_e4m3fnuz": "ml_dtypes.float8_e4m3fnuz", "fp8_e5m2": "ml_dtypes.float8_e5m2",
    "fp8_e5m2fnuz": "ml_dtypes.float8_e5m2fnuz", "fp8_e8m0fnu": "ml_dtypes.float8_e8m0fnu",
    "fp6_e2m3fn": "ml_dtypes.float6_e2m3fn", "fp6_e3m2fn": "ml_dtypes.float6_e3m2fn",
    "fp4_e2m1fn": "ml_dtypes.float4_e2m1fn",
    "fp8_e5m3fnu": "ml_dtypes.float8_e5m3fnu",   # skipped where ml_dtypes lacks it
}


@pytest.mark.parametrize("src", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(ML))
def test_ml_dtypes(name, src):
    fmt = qf.format(name)
    x = inputs(fmt, src)
    want = x.astype(resolve(ML[name])).view(np.uint8 if fmt.bits <= 8 else np.uint16)
    got = qf.encode(x, fmt, profile="ml_dtypes")
    if name == "fp8_e8m0fnu":
        # ml_dtypes shares torch's float32-bit rule (findings.md 2.5).
        assert (_e8m0_quirk(x) & ~np.signbit(x)).sum() >= 4
    _mismatch(x, got, want)


@pytest.mark.parametrize("name", sorted(ML))
def test_ml_dtypes_from_float16(name):
    codes = np.arange(1 << 16, dtype=np.uint16)
    x = codes.view(np.float16)
    fmt = qf.format(name)
    want = x.astype(resolve(ML[name])).view(np.uint8 if fmt.bits <= 8 else np.uint16)
    _mismatch(codes, qf.encode(x, fmt, profile="ml_dtypes"), want)


def test_profiles_listing():
    rows = qf.profiles()
    names = {p["name"] for p in rows}
    assert {"ieee", "numpy", "ml_dtypes", "torch-cpu", "torch-cuda"} <= names
    for p in rows:
        assert p["versions"] and p["source"]
        assert p["verified"] == bool(p["checked_on"])
    for name in names:          # the bare name selects exactly one release range
        assert sum(p["selected"] for p in rows if p["name"] == name) == 1
    md = [p for p in rows if p["name"] == "ml_dtypes"]
    assert [p["versions"] for p in md] == ["0.5–0.6", "0.7+"]
    assert md[0]["checked_on"] == ["ml_dtypes 0.6.0"]
    assert md[1]["checked_on"] == ["ml_dtypes 0.7.0"]


def test_explicit_option_overrides_profile():
    x = np.array([1e6, np.nan], np.float32)
    assert list(qf.encode(x, qf.fp8_e4m3fn, profile="torch-cpu")) == [0x7E, 0x7F]
    assert list(qf.encode(x, qf.fp8_e4m3fn, profile="torch-cpu", overflow="nan")) == [0x7F,
                                                                                      0x7F]
    assert list(qf.encode(x, qf.fp8_e4m3fn, profile="torch-cpu", nan=0x11)) == [0x7E, 0x11]
    assert qf.encode(x[1:], qf.bf16, profile="torch-cpu")[0] == 0xFFFF
    assert qf.encode(x[1:], qf.bf16, profile="torch-cpu", nan="canonical")[0] == 0x7FC0


# ---------------------------------------------------------------------------
# API conventions

X = np.array([0.1, -2.5, 1e-40, 3e38, -0.0, 448.0, 1e6, 7.0], dtype=np.float32)
X_BITS = qf.encode(X, qf.bf16)


def test_reference_bits():
    np.testing.assert_array_equal(X_BITS, X.astype(ml_dtypes.bfloat16).view(np.uint16))


@pytest.mark.parametrize("shape", [(8,), (2, 4), (2, 2, 2), (1, 8, 1)])
def test_any_shape(shape):
    x = X.reshape(shape)
    out = qf.encode(x, qf.bf16)
    assert out.shape == shape and out.dtype == np.uint16
    np.testing.assert_array_equal(out.reshape(-1), X_BITS)
    r = qf.round(x, qf.bf16)
    assert r.shape == shape and r.dtype == np.float32


def test_non_contiguous_inputs():
    big = np.zeros((8, 3), np.float32)
    big[:, 1] = X
    np.testing.assert_array_equal(qf.encode(big[:, 1], qf.bf16), X_BITS)
    np.testing.assert_array_equal(qf.encode(X[::-1], qf.bf16), X_BITS[::-1])
    m = X.reshape(2, 4)
    np.testing.assert_array_equal(qf.encode(m.T, qf.bf16), X_BITS.reshape(2, 4).T)
    np.testing.assert_array_equal(qf.decode(X_BITS.reshape(2, 4).T, qf.bf16),
                                  qf.decode(X_BITS, qf.bf16).reshape(2, 4).T)


@pytest.mark.parametrize("dt", [">f4", ">f8", "<f4"])
def test_byte_order(dt):
    x = X.astype(dt)
    np.testing.assert_array_equal(qf.encode(x, qf.bf16), X_BITS)
    r = qf.round(x, qf.bf16)
    np.testing.assert_array_equal(r, qf.round(X.astype(np.dtype(dt).newbyteorder("=")), qf.bf16))
    np.testing.assert_array_equal(qf.decode(X_BITS.astype(">u2"), qf.bf16),
                                  qf.decode(X_BITS, qf.bf16))


def test_read_only_input():
    x = X.copy()
    x.flags.writeable = False
    np.testing.assert_array_equal(qf.encode(x, qf.bf16), X_BITS)
    np.testing.assert_array_equal(qf.round(x, qf.bf16), qf.round(X, qf.bf16))


def test_zero_d_and_empty():
    r = qf.encode(np.float32(0.1), qf.bf16)
    assert r.shape == () and r.dtype == np.uint16 and int(r) == 0x3DCD
    assert qf.round(np.array(0.1), qf.bf16).shape == ()
    assert qf.decode(np.uint16(0x3F80), qf.bf16).shape == ()
    for shape in [(0,), (3, 0), (0, 2, 5)]:
        e = qf.encode(np.zeros(shape, np.float32), qf.fp8_e4m3fn)
        assert e.shape == shape and e.dtype == np.uint8
        assert qf.round(np.zeros(shape), qf.fp16).shape == shape
        assert qf.decode(np.zeros(shape, np.uint8), qf.fp8_e5m2).shape == shape


def test_out_argument():
    out = np.empty(8, np.uint16)
    r = qf.encode(X, qf.bf16, out=out)
    assert r is out
    np.testing.assert_array_equal(out, X_BITS)
    out2 = np.empty(8, np.float32)
    assert qf.round(X, qf.bf16, out=out2) is out2
    np.testing.assert_array_equal(out2, qf.round(X, qf.bf16))
    out3 = np.empty(8, np.float64)
    assert qf.decode(X_BITS, qf.bf16, out=out3) is out3
    strided = np.zeros(16, np.uint16)[::2]
    qf.encode(X, qf.bf16, out=strided)
    np.testing.assert_array_equal(strided, X_BITS)
    for bad in (np.empty(7, np.uint16), np.empty(8, np.uint8), np.empty((2, 4), np.uint16),
                np.empty(8, np.int16)):
        with pytest.raises(ValueError, match="expected"):
            qf.encode(X, qf.bf16, out=bad)
    with pytest.raises(ValueError):
        qf.round(X, qf.bf16, out=np.empty(8, np.float64))
    with pytest.raises(ValueError):
        qf.decode(X_BITS, qf.bf16, out=np.empty(8, np.float32))


@pytest.mark.parametrize("bad", [np.array(["1.0"]), ["a", "b"], np.array([1 + 2j]),
                                 np.array([object()], dtype=object), "0.5"])
def test_bad_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError):
        qf.encode(bad, qf.bf16)
    with pytest.raises(TypeError):
        qf.round(bad, qf.bf16)


def test_decode_needs_integer_codes():
    with pytest.raises(TypeError):
        qf.decode(np.array([1.0]), qf.bf16)
    with pytest.raises(ValueError):
        qf.decode(np.array([256]), qf.fp8_e4m3fn)
    with pytest.raises(ValueError):
        qf.decode(np.array([-1]), qf.fp8_e4m3fn)
    with pytest.raises(ValueError):
        qf.decode(np.array([1], np.uint8), qf.fp8_e4m3fn, dtype=np.float16)


def test_lists_and_scalars():
    assert list(qf.encode([0.1, -2.5], qf.bf16)) == [0x3DCD, 0xC020]
    assert list(qf.encode([[1.0], [2.0]], "fp8_e4m3fn").reshape(-1)) == [0x38, 0x40]
    assert int(qf.encode(0.1, qf.bf16)) == 0x3DCD                 # Python float: float64
    assert float(qf.round(0.1, qf.bf16)) == 0.10009765625
    assert qf.round(0.1, qf.bf16).dtype == np.float64


def test_integer_inputs_round_once():
    big = np.array([2**62 + 2**38 + 1, -(2**62 + 2**38 + 1), 2**53 + 1, 7], dtype=np.int64)
    # once from the integer: 2^62 + 2^38 + 1 is above the fp32 tie 2^62 + 2^38, so it goes up;
    # through float64 it would become the tie itself and go to the even 2^62.
    want = qf.encode(np.array([2.0**62 + 2.0**39, -(2.0**62 + 2.0**39), 2.0**53, 7.0]), qf.fp32)
    np.testing.assert_array_equal(qf.encode(big, qf.fp32), want)
    assert list(qf.encode(big[2:3], qf.fp64)) == [np.float64(2.0**53).view(np.uint64)]
    assert list(qf.encode(big[2:3], qf.fp64, rounding="up")) == [
        np.float64(2.0**53 + 2).view(np.uint64)]
    u = np.array([2**64 - 1, 2**63 + 2**39 + 1], dtype=np.uint64)
    assert list(qf.encode(u, qf.fp32)) == [0x5F800000, 0x5F000001]
    r = qf.round(big, qf.bf16)
    assert r.dtype == np.float64 and r[3] == 7.0
    for dt in (np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32, np.bool_):
        np.testing.assert_array_equal(qf.encode(np.array([1, 0], dt), qf.bf16), [0x3F80, 0])


@pytest.mark.parametrize("dt", ["ml_dtypes.bfloat16", "ml_dtypes.float8_e4m3fn",
                                "ml_dtypes.float8_e5m2", np.float16])
def test_ml_dtypes_inputs(dt):
    dt = resolve(dt)
    """16/8-bit arrays are read exactly: same as their exact float32 values."""
    codes = np.arange(1 << (8 * np.dtype(dt).itemsize), dtype=np.uint64)
    x = codes.astype(f"u{np.dtype(dt).itemsize}").view(dt)
    exact = x.astype(np.float32)
    for fmt in (qf.fp8_e4m3fn, qf.fp4_e2m1fn, qf.fp16, qf.bf16):
        kw = {"nan": 0} if fmt.nan == "none" else {}
        for mode in ("nearest_even", "up", "odd"):
            a = qf.encode(x, fmt, rounding=mode, **kw)
            b = qf.encode(exact, fmt, rounding=mode, **kw)
            fin = ~np.isnan(exact)
            np.testing.assert_array_equal(a[fin], b[fin])
    r = qf.round(x, qf.fp8_e4m3fn, nan="canonical")
    assert r.dtype == np.dtype(dt)
    fin = np.isfinite(exact)
    np.testing.assert_array_equal(
        r[fin].astype(np.float32), qf.round(exact[fin], qf.fp8_e4m3fn))
