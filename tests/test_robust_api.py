"""Issue 11 in the Python API: float targets for quantize, huge exact values
in explain, checked format biases and options, in-place round, torch in /
torch out, readable shortest decimals, checkpoints that rebuild their format
from its fields."""

from __future__ import annotations

import inspect
import json
import struct
import traceback
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import qformat as qf
from qformat.io import checkpoint as _checkpoint

README = Path(__file__).resolve().parents[1] / "README.md"


# --- quantize into float formats ----------------------------------------------------


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp8_e4m3fn"])
@pytest.mark.parametrize("axis, group", [(None, None), (0, None), (1, 8)])
def test_quantize_into_any_float_format(fmt, axis, group):
    x = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    q = qf.quantize(x, fmt, axis=axis, group_size=group)
    finfo = qf.finfo(fmt)
    amax = np.abs(q.dequantize(np.float64)).max()
    assert q.format == qf.format(fmt) and amax == pytest.approx(np.abs(x).max(), rel=1e-6)
    fake = qf.fake_quantize(x, fmt, axis=axis, group_size=group)
    assert np.allclose(fake, x, rtol=2 * finfo.eps, atol=1e-30)
    assert qf.quantize(np.ones((4, 4), np.float32), fmt).dequantize().max() == pytest.approx(1)


# --- explain of values beyond Python's int-digit limit -------------------------------------


@pytest.mark.parametrize("value", ["1e-5000", Fraction(1, 10**5000), Decimal("1e-5000")])
def test_explain_values_with_more_than_4300_digits(value):
    e = qf.explain(value, "fp64")
    d = e.to_dict()
    json.dumps(d)
    assert e.underflow and d["abs_error"].startswith("1/1" + "0" * 10)
    assert "fp64" in str(e)


def test_explain_input_of_a_huge_fraction_is_its_exact_text():
    e = qf.explain(Fraction(10**5000 + 1, 10**5000), "fp32")
    assert e.input.startswith("1" + "0" * 4999 + "1/1") and e.shortest == "1"


# --- formats and options ----------------------------------------------------------------


@pytest.mark.parametrize("bias", [10**6, -(10**6), 2000, -2000])
def test_a_bias_that_leaves_float64_is_refused(bias):
    with pytest.raises(ValueError, match="float64"):
        qf.FloatFormat(4, 3, bias=bias)


def test_valid_biases_still_work():
    f = qf.FloatFormat(4, 3, bias=1000)
    assert qf.finfo(f).max > 0 and qf.decode(f.max_code, f) > 0
    assert qf.FloatFormat(8, 0, bias=127, signed=False, inf=False, nan="fn", zero=False)


def test_format_none_and_non_bool_subnormals_are_type_errors():
    with pytest.raises(TypeError, match="None"):
        qf.encode([1.0], None)
    with pytest.raises(TypeError, match="subnormals"):
        qf.encode([1e-40], "fp32", subnormals="False")
    assert qf.encode(np.float64(1e-40), "fp32", subnormals=np.bool_(False)) == 0


def test_asymmetric_int8_of_values_near_float64_max():
    x = np.array([-1.7e308, 0.0, 1.7e308, 0.85e308], np.float64)
    q = qf.quantize(x, "int8", scheme="asymmetric")
    assert np.isfinite(q.scale) and float(q.scale) == pytest.approx(1.7e308 / 127.5, rel=1e-12)
    assert len(np.unique(q.values)) == 4
    assert np.allclose(q.dequantize(np.float64), x, rtol=0, atol=float(q.scale))


# --- in place, exception names ----------------------------------------------------------


@pytest.mark.parametrize("fn", ["round", "encode"])
def test_round_and_encode_in_place(fn):
    a = np.random.default_rng(2).standard_normal(1000)
    want = getattr(qf, fn)(a.copy(), "bf16" if fn == "round" else "fp64")
    out = a if fn == "round" else a.view(np.uint64)
    got = getattr(qf, fn)(a, "bf16" if fn == "round" else "fp64", out=out)
    assert got is out and np.array_equal(got, want)


def test_exceptions_print_as_qformat_names():
    with pytest.raises(qf.QFormatError) as info:
        qf.encode([np.nan], "fp4_e2m1fn")
    text = "".join(traceback.format_exception_only(info.type, info.value))
    assert text.startswith("qformat.") and "_native" not in text
    for exc in (qf.QFormatError, qf.NanInputError, qf.RangeError, qf.ParseError):
        assert exc.__module__ == "qformat"


# --- torch in, torch out ----------------------------------------------------------------


def test_torch_in_gives_torch_out():
    torch = pytest.importorskip("torch")
    t = torch.linspace(-500, 500, 101, dtype=torch.float32)
    codes = qf.encode(t, "fp8_e4m3fn", overflow="saturate")
    assert isinstance(codes, torch.Tensor) and codes.dtype == torch.float8_e4m3fn
    assert torch.equal(codes.view(torch.uint8), t.clamp(-448, 448).to(torch.float8_e4m3fn)
                       .view(torch.uint8))
    bf = qf.round(t.to(torch.bfloat16), "fp8_e4m3fn", overflow="saturate")
    assert bf.dtype == torch.bfloat16
    dec = qf.decode(codes.view(torch.uint8), "fp8_e4m3fn")
    assert isinstance(dec, torch.Tensor) and dec.dtype == torch.float64
    r = qf.round(t, "bf16")
    assert r.dtype == torch.float32 and torch.equal(r, t.to(torch.bfloat16).float())
    assert qf.encode(t.to(torch.int32), "int8").dtype == torch.int8
    assert isinstance(qf.encode(t.numpy(), "bf16"), np.ndarray)


# --- shortest ---------------------------------------------------------------------------


@pytest.mark.parametrize("value, fmt, want", [
    (448, "fp8_e4m3fn", "448"), (57344, "fp8_e5m2", "57344"),
    (2.0**127, "fp8_e8m0fnu", "1.7e+38"), ("0.1", "fp32", "0.1"),
    ("3.14159265358979", "fp32", "3.1415927"), (2.0**-9, "fp8_e4m3fn", "0.00195"),
    (5e-324, "fp64", "4.9e-324"), ("0.7", "fp32", "0.7"), (-6, "fp4_e2m1fn", "-6"),
])
def test_shortest_reads_naturally(value, fmt, want):
    e = qf.explain(value, fmt)
    assert e.shortest == want
    assert qf.explain(e.shortest, fmt).bits == e.bits


# --- checkpoints keep the whole format layout ------------------------------------------------


def _npz(tmp_path, **arrays):
    path = tmp_path / "in.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("name", [None, "e4m3"])  # "e4m3" is also fp8_e4m3fn's alias
def test_checkpoint_rebuilds_a_custom_format_from_its_fields(tmp_path, name):
    x = np.array([[1.0, np.nan], [2.0, -3.0]], np.float32)
    src = _npz(tmp_path, w=x)
    out = tmp_path / "o.safetensors"
    qf.quantize_file(src, out, qf.FloatFormat(4, 3, name=name))
    back = qf.load(out)["w"]
    assert np.isnan(back[0, 1]) and back[1, 1] == -3.0
    from safetensors import safe_open
    with safe_open(str(out), "np") as f:
        rec = json.loads(f.metadata()["qformat"])
    assert rec["tensors"]["w"]["format"]["zero"] is True


def _st_header(path):
    blob = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def test_checkpoint_records_zero_and_reads_old_records(tmp_path):
    x = np.full((2, 32), 0.5, np.float32)
    src = _npz(tmp_path, w=x)
    out = tmp_path / "o.safetensors"
    qf.quantize_file(src, out, "mxfp4")
    header, data = _st_header(out)
    rec = json.loads(header["__metadata__"]["qformat"])
    assert rec["tensors"]["w"]["scale_format"]["zero"] is False
    # a layout-1 record (no "zero"): the built-in's name still gives e8m0's no-zero rule
    rec["version"] = 1
    for fr in (rec["tensors"]["w"]["format"], rec["tensors"]["w"]["scale_format"]):
        del fr["zero"]
    header["__metadata__"]["qformat"] = json.dumps(rec)
    text = json.dumps(header).encode()
    old = tmp_path / "old.safetensors"
    old.write_bytes(struct.pack("<Q", len(text)) + text + data)
    assert np.array_equal(qf.load(old)["w"], x)


def test_format_records_do_not_go_through_names():
    custom = qf.FloatFormat(4, 3, name="e4m3")
    f = _checkpoint._format_from_record(_checkpoint._format_record(custom))
    assert f == qf.FloatFormat(4, 3) and f != qf.fp8_e4m3fn


def test_nan_error_in_a_later_run_of_rows_gives_the_tensor_index(tmp_path, monkeypatch):
    monkeypatch.setattr(_checkpoint, "CHUNK_BYTES", 64)  # two rows per run
    x = np.ones((16, 8), np.float32)
    x[9, 3] = np.nan
    with pytest.raises(ValueError, match=r"tensor 'w': NaN at flat index 75\b.*--nan"):
        qf.quantize_file(_npz(tmp_path, w=x), tmp_path / "o.safetensors", "fp4_e2m1fn")
    assert not (tmp_path / "o.safetensors").exists()


@pytest.mark.parametrize("fn", [qf.encode, qf.round])
def test_encode_and_round_hand_on_exactly_their_conversion_options(fn):
    """``encode``/``round`` pass their options on (to the shared checks and
    to the dask path) by the names in ``_convert._OPTIONS``: an option added
    to a signature and not to that list would be dropped on the way."""
    from qformat import _convert

    params = inspect.signature(fn).parameters
    keywords = [k for k, p in params.items() if p.kind is p.KEYWORD_ONLY and k != "out"]
    assert keywords == list(_convert._OPTIONS)
