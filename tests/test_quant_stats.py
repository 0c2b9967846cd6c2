"""The error statistics of a quantization taken from its codes
(``_native.quant_error_stats``, what ``quantize_file`` reports for integer
and block-scaled targets) against the old way: ``error_stats`` of the
input against ``fake_quantize``'s values, bit for bit; against NumPy; and
a checkpoint's whole report, old pipeline against new."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qformat import _native, _quant
from qformat.io import checkpoint as _checkpoint
from qformat.io.stats import ErrorStats
from qformat.io.stfile import TensorInfo, TensorWriter

# (fmt, options): every layout and kind of code the checkpoint writes.
CASES = [
    ("int8", {}),
    ("int8", {"axis": 0}),
    ("int8", {"axis": 1}),
    ("int8", {"axis": 2, "group_size": 8}),
    ("int8", {"axis": 1, "group_size": 4}),
    ("int4", {"axis": -1, "group_size": 16, "scheme": "asymmetric"}),
    ("uint8", {"axis": 0, "scheme": "asymmetric"}),
    ("int16", {"axis": 1}),
    ("int8", {"axis": 0, "rounding": "stochastic", "seed": 3}),
    ("int8", {"axis": 0, "rounding": "down"}),
    ("int8", {"axis": 0, "arithmetic": "torch"}),
    ("int8", {"axis": 0, "percentile": 99.0}),
    ("int8", {"axis": 0, "clip": 2.0}),
    ("uint8", {"axis": 1, "clip": (-1.0, 3.0), "scheme": "asymmetric"}),
    ("fp8_e4m3fn", {"axis": -1, "group_size": 32, "scale_format": "fp8_e8m0fnu"}),
    ("fp8_e5m2", {"axis": -1, "group_size": 32, "scale_format": "fp8_e8m0fnu"}),
    ("fp6_e2m3fn", {"axis": -1, "group_size": 32, "scale_format": "fp8_e8m0fnu"}),
    ("fp4_e2m1fn", {"axis": -1, "group_size": 16, "scale_format": "fp8_e4m3fn"}),
    ("int8", {"axis": -1, "group_size": 32, "scale_format": "fp8_e8m0fnu"}),
    ("fp8_e4m3fn", {"axis": 0}),
    ("fp8_e4m3fn", {"rounding": "stochastic", "seed": 1}),
]


def weights(shape=(6, 20, 64), seed=0, specials=True, dtype=np.float32,
            infinite=False) -> np.ndarray:
    """Normal weights over several magnitudes; with ``specials`` NaN, ±0
    and a subnormal, and with ``infinite`` ±inf (which only a clip range
    can quantize)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x = rng.standard_normal(n) * rng.choice([1e-6, 0.02, 1.0, 30.0], n)
    if specials:
        x[np.array([5, 301, 302, 640]) % n] = [np.nan, 0.0, -0.0, 1e-42]
    if infinite:
        x[np.array([77, 300]) % n] = [np.inf, -np.inf]
    return x.astype(dtype).reshape(shape)


def old_sums(x: np.ndarray, fmt: str, **opts) -> dict:
    """The statistics as the checkpoint took them before: a second code
    pass writing the dequantized values, then ``error_stats``."""
    fake = _quant.fake_quantize(x, fmt, **{**opts, "nan": opts.get("nan", "error")})
    flat = np.ascontiguousarray(x).reshape(-1)
    return _native.error_stats(flat, fake.reshape(-1))


def new_sums(x: np.ndarray, fmt: str, **opts) -> dict:
    q, sums = _quant.quantize_with_stats(x, fmt, True, **opts)
    plain = _quant.quantize(x, fmt, **opts)
    np.testing.assert_array_equal(q.values, plain.values)
    np.testing.assert_array_equal(q.scale, plain.scale)
    return sums


def same_bits(got: dict, want: dict) -> None:
    """Every sum identical, floats compared by their bits (repr tells
    -0.0 from 0.0); overflow is not counted for a quantization."""
    for k, v in want.items():
        assert repr(got[k]) == repr(v), (k, got[k], v)
    assert got["overflow"] == 0


@pytest.mark.parametrize("fmt,opts", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stats_from_codes_equal_error_stats_of_fake_quantize(fmt, opts, dtype):
    x = weights(dtype=dtype, infinite="clip" in opts)
    code = 0 if fmt.startswith("int") or fmt.startswith("uint") else None
    nan = 0 if code is not None else 0x7F if fmt == "fp8_e4m3fn" else None
    if nan is None:  # formats whose elements have no NaN code: no NaN input
        x = np.nan_to_num(x, nan=1.5)
    same_bits(new_sums(x, fmt, nan=nan if nan is not None else "error", **opts),
              old_sums(x, fmt, nan=nan if nan is not None else "error", **opts))


def test_stats_from_codes_over_several_chunks():
    """Larger than one chunk of 65,536 (sums are formed per chunk, in
    order), per channel along both axes and in MX blocks."""
    x = weights((300, 1056), seed=4, specials=True)
    for fmt, opts in [("int8", {"axis": 0}), ("int8", {"axis": 1}),
                      ("fp8_e4m3fn", {"axis": -1, "group_size": 32,
                                      "scale_format": "fp8_e8m0fnu"})]:
        nan = 0 if fmt == "int8" else 0x7F
        same_bits(new_sums(x, fmt, nan=nan, **opts), old_sums(x, fmt, nan=nan, **opts))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(CASES[:12]),
       st.sampled_from([(4, 8, 32), (1, 16, 64), (3, 4, 16)]))
def test_stats_from_codes_property(seed, case, shape):
    fmt, opts = case
    x = weights(shape, seed=seed, specials=seed % 2 == 0)
    same_bits(new_sums(x, fmt, nan=0, **opts), old_sums(x, fmt, nan=0, **opts))


def test_stats_from_codes_equal_numpy():
    """Against NumPy's computation from the dequantized values."""
    x = weights((8, 64, 32), seed=2).astype(np.float64)
    fake = _quant.fake_quantize(x, "int8", axis=0, nan=0).reshape(-1)
    got = new_sums(x, "int8", axis=0, nan=0)
    x64 = x.reshape(-1)
    both = np.isfinite(x64) & np.isfinite(fake)
    e = np.abs(fake[both] - x64[both])
    assert (got["n"], got["finite"]) == (x64.size, int(both.sum()))
    assert (got["nan_in"], got["inf_in"], got["nan_out"], got["inf_out"]) == (1, 0, 0, 0)
    assert got["max_abs"] == e.max()
    assert got["amax"] == np.abs(x64[np.isfinite(x64)]).max()
    assert got["flushed"] == int(np.sum(np.isfinite(x64) & (x64 != 0) & (fake == 0)))
    for k, v in (("sum_abs", e.sum()), ("noise", np.sum(e * e)),
                 ("signal", np.sum(x64[both] ** 2))):
        assert math.isclose(got[k], v, rel_tol=1e-12), k


def test_quant_error_stats_refuses_mismatches():
    x = np.ones(8, np.float32)
    one = np.ones(1)
    none = np.zeros(0, np.int64)
    with pytest.raises(ValueError, match="differ in size"):
        _native.quant_error_stats(x, (8,), None, None, one, none, np.zeros(7, np.uint8), None,
                                  True)
    with pytest.raises(ValueError, match="scales"):
        _native.quant_error_stats(x, (8,), None, None, np.ones(2), none, np.zeros(8, np.uint8),
                                  None, True)
    with pytest.raises(ValueError, match="below 2"):
        _native.quant_error_stats(x, (8,), None, None, one, none, np.full(8, 16, np.uint8),
                                  _quant.format("fp4_e2m1fn"), False)


# ---------------------------------------------------------------------------
# A checkpoint's report, old pipeline against new


def old_pipeline(x, fmt, report, **opts):
    """What the checkpoint did before: codes, then the fused
    quantize-dequantize pass, then ``error_stats`` of the two arrays."""
    q = _quant.quantize(x, fmt, **opts)
    if not report:
        return q, None
    s = ErrorStats()
    s.add(x, _quant.fake_quantize(x, fmt, **opts))
    return q, s.sums


def small_checkpoint(path) -> None:
    rng = np.random.default_rng(7)
    shapes = {"emb": ((40, 64), "BF16"), "q": ((64, 64), "F32"), "mlp": ((96, 64), "F32"),
              "norm": ((64,), "F32")}
    layout = [TensorInfo(n, code, shape) for n, (shape, code) in shapes.items()]
    w = TensorWriter(str(path), layout, {})
    for n, (shape, code) in shapes.items():
        x = (rng.standard_normal(shape) * 0.05).astype(np.float32)
        x.reshape(-1)[[30, 31]] = [0.0, 1e-40]
        w.write(n, (x.view(np.uint32) >> 16).astype(np.uint16) if code == "BF16" else x)
    w.commit()


@pytest.mark.parametrize("to,opts", [("int8", {}), ("int4", {"group_size": 32,
                                                             "scheme": "asymmetric"}),
                                     ("mxfp8", {}), ("mxfp4", {}), ("mxint8", {}),
                                     ("int8", {"axis": None})])
def test_checkpoint_report_is_unchanged(tmp_path, monkeypatch, to, opts):
    """The whole report of a small checkpoint (runs of rows forced small)
    is the one the old pipeline gave, number for number."""
    small_checkpoint(tmp_path / "m.safetensors")
    monkeypatch.setattr(_checkpoint, "CHUNK_BYTES", 3000)

    def report(name):
        rep = _checkpoint.quantize_file(tmp_path / "m.safetensors", tmp_path / name, to,
                                        **opts)
        del rep["totals"]["seconds"]
        return rep["tensors"], rep["totals"]

    new = report("new.safetensors")
    monkeypatch.setattr(_checkpoint, "quantize_with_stats", old_pipeline)
    old = report("old.safetensors")
    assert repr(new) == repr(old)
    assert new[1]["converted"] == 3 and new[1]["rmse"] > 0
