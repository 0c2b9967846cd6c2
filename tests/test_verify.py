"""``qformat verify``: the sampled cross-check against torch CPU, NumPy and
ml_dtypes finds 0 mismatches with each backend's own profile; injected faults
(a wrong profile option, the ieee profile) are caught and put in the right
class; the CLI exits 0 / 1 / 2. The exhaustive 2^32 sweeps are opt-in:
``pytest -m exhaustive tests/test_verify.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import qformat as qf
from qformat import verify as _verify

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
SAMPLES = 100_000

def _run(against: str, fmt: str, **kw) -> dict:
    return _verify.verify(against, formats=[fmt], samples=SAMPLES, **kw)


def _params(against: str, known: dict | None = None) -> list:
    try:
        backend = _verify.backend_for(against)
    except _verify.VerifyError as e:      # the library is not installed
        return [pytest.param(None, marks=pytest.mark.skip(reason=str(e)))]
    return [pytest.param(f, marks=(known or {}).get(f, ())) for f in backend.formats()]


# ---------------------------------------------------------------------------
# sampled: 0 mismatches with the backend's own profile


@pytest.mark.parametrize("fmt", _params("torch", {}))
def test_sampled_torch_cpu(fmt):
    r = _run("torch", fmt)
    assert r["profile"].startswith("torch-cpu@") and r["inputs"] >= 100_000
    bad = [c for c in r["cases"] if c["mismatches"]]
    assert not bad, json.dumps(bad, indent=1)[:3000]


@pytest.mark.parametrize("fmt", _params("numpy"))
def test_sampled_numpy(fmt):
    r = _run("numpy", fmt)
    assert r["profile"].startswith("numpy@") and r["clean"], \
        json.dumps(r["cases"], indent=1)[:3000]


@pytest.mark.parametrize("fmt", _params("ml_dtypes", {}))
def test_sampled_ml_dtypes(fmt):
    r = _run("ml_dtypes", fmt)
    assert r["profile"].startswith("ml_dtypes@")
    bad = [c for c in r["cases"] if c["mismatches"]]
    assert not bad, json.dumps(bad, indent=1)[:3000]


def test_decode_nan_bits_are_tolerated_not_hidden():
    """torch quiets float16 NaNs when widening (0x7c01 -> 0x7fc02000) where
    qformat's decode keeps the bits (0x7f802000): listed, not failed."""
    r = _run("torch", "fp16", sources=["f32"])
    dec = next(c for c in r["cases"] if c["direction"] == "fp16->f32")
    assert dec["mismatches"] == 0
    assert dec["tolerated"]["nan_bits"]["count"] == 1022      # the 2 * 511 signalling NaNs
    ex = dec["tolerated"]["nan_bits"]["examples"][0]
    assert (ex["input"], ex["ours"], ex["theirs"]) == ("0x7c01", "0x7f802000", "0x7fc02000")


# ---------------------------------------------------------------------------
# the sampled inputs hit every class


def test_samples_cover_every_class():
    x = _verify.sample_inputs(qf.format("fp8_e4m3fn"), "f32", SAMPLES)
    assert x.size == SAMPLES + 32 and x.size % 64 == 0 and x.dtype == np.float32
    w = x.view(np.uint32)
    assert np.isnan(x).sum() > 1000 and len(np.unique(w[np.isnan(x)])) > 1000
    assert (np.isnan(x) & np.signbit(x)).any() and (np.isnan(x) & ~np.signbit(x)).any()
    assert {0x00000000, 0x80000000, 0x7F800000, 0xFF800000} <= set(w.tolist())
    ties = (np.arange(16) + 0.5) * 2.0**-9                  # subnormal ties of e4m3fn
    for t in (448.0, 464.0, 480.0, 0.5 * 2.0**-9, *ties, 1.0625, -1.0625):
        assert t in x
        assert np.nextafter(np.float32(t), np.float32(np.inf)) in x      # near ties
    assert ((w & 0x7F800000) == 0).sum() > 100                # float32 subnormals
    i = _verify.sample_inputs(qf.format("int8"), "f64", SAMPLES)
    for v in (127.5, -128.5, 2.0**31, -2.0**31, 2.5, 256.0, -129.0):
        assert v in i
    again = _verify.sample_inputs(qf.format("fp8_e4m3fn"), "f32", SAMPLES)
    np.testing.assert_array_equal(again.view(np.uint32), w)     # deterministic


# ---------------------------------------------------------------------------
# injected faults are caught and classified


def _counts(r: dict, direction: str) -> dict:
    case = next(c for c in r["cases"] if c["direction"] == direction)
    return {k: v["count"] for k, v in case["classes"].items()}


def test_fault_e5m2_saturate_is_an_overflow_rule():
    r = _run("torch", "fp8_e5m2", options={"overflow": "saturate"}, sources=["f32"],
             decode_check=False)
    counts = _counts(r, "f32->fp8_e5m2")
    assert set(counts) == {"overflow_rule"} and counts["overflow_rule"] > 1000
    x = _verify.sample_inputs(qf.format("fp8_e5m2"), "f32", SAMPLES)
    beyond = np.abs(x) >= 61440                               # tie_ovf and above: inf in torch
    assert counts["overflow_rule"] == int(beyond.sum())
    ex = r["cases"][0]["classes"]["overflow_rule"]["examples"][0]
    assert ex["theirs"] in ("0x7c", "0xfc") and ex["ours"] in ("0x7b", "0xfb")


def test_fault_bf16_canonical_nan_is_nan_bits():
    r = _run("torch", "bf16", options={"nan": "canonical"}, sources=["f32"],
             decode_check=False)
    counts = _counts(r, "f32->bf16")
    x = _verify.sample_inputs(qf.format("bf16"), "f32", SAMPLES)
    assert counts == {"nan_bits": int(np.isnan(x).sum())}
    ex = r["cases"][0]["classes"]["nan_bits"]["examples"][0]
    assert (ex["ours"], ex["theirs"]) == ("0x7fc0", "0xffff")


def test_fault_ieee_profile_lists_torch_departures():
    """With profile ieee the report lists how torch departs from IEEE: e4m3fn
    saturation (overflow rule), f64 double rounding (rounding direction),
    integer truncation and wrap-around."""
    r = _verify.verify("torch", formats=["fp8_e4m3fn", "int8"], profile="ieee",
                       samples=SAMPLES, sources=["f32", "f64"], decode_check=False)
    assert not r["clean"]
    assert set(_counts(r, "f32->fp8_e4m3fn")) == {"overflow_rule"}
    f64 = _counts(r, "f64->fp8_e4m3fn")
    assert f64["rounding_direction"] > 100 and f64["overflow_rule"] > 1000
    ints = _counts(r, "f32->int8")
    assert ints["rounding_direction"] > 100 and ints["int_out_of_range"] > 1000


def test_fault_e8m0_classification_uses_magnitudes():
    """An unsigned format: a wrong rounding on negative inputs is still a
    rounding direction (the sign is ignored by torch's e8m0 cast)."""
    r = _run("torch", "fp8_e8m0fnu", options={"rounding": "toward_zero"}, sources=["f32"],
             decode_check=False)
    counts = _counts(r, "f32->fp8_e8m0fnu")
    assert counts["rounding_direction"] > 1000
    assert counts.get("other", 0) == 0


# ---------------------------------------------------------------------------
# command line


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qformat", "verify", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "160", "NO_COLOR": "1"})


def test_cli_clean_exits_0_with_json_and_report(tmp_path):
    rep = tmp_path / "r.json"
    p = _cli("--against", "numpy", "--format", "fp16", "--samples", "5000", "--json",
             "--report", str(rep))
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["clean"] and r["backend"] == "numpy" and r["profile"].startswith("numpy@")
    assert {c["direction"] for c in r["cases"]} == {"f32->fp16", "f64->fp16", "fp16->f32"}
    assert json.loads(rep.read_text()) == r


def test_cli_fault_exits_1_and_names_the_class():
    p = _cli("--against", "torch", "--format", "fp8_e5m2", "--samples", "5000",
             "--option", "overflow=saturate", "--source", "f32", "--no-decode")
    assert p.returncode == 1, p.stderr
    assert "overflow_rule" in p.stdout and "mismatches" in p.stdout
    # ml_dtypes' bf16 drops NaN payloads (±0x7fc0); IEEE keeps them
    p = _cli("--against", "ml_dtypes", "--format", "bf16", "--samples", "5000",
             "--profile", "ieee", "--json", "--quiet")
    assert p.returncode == 1
    r = json.loads(p.stdout)
    assert r["profile"] == "ieee" and r["mismatches"] > 0


@pytest.mark.parametrize("args", [
    ["--against", "tensorflow"],
    ["--against", "torch", "--format", "nope"],
    ["--against", "numpy", "--format", "bf16"],
    ["--against", "numpy", "--device", "cuda"],
    ["--against", "torch", "--profile", "zzz"],
    ["--against", "torch", "--exhaustive", "--samples", "1000"],
    ["--against", "torch", "--option", "colour=red"],
    ["--against", "torch", "--option", "subnormals=maybe"],
    ["--against", "torch", "--samples", "3"],
    [],
])
def test_cli_usage_errors_exit_2(args):
    p = _cli(*args)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.strip()


def test_cli_cuda_without_gpu_is_a_usage_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    p = _cli("--against", "torch", "--device", "cuda")
    assert p.returncode == 2 and "CUDA" in p.stderr


def test_torch_cuda_profile_is_marked_unverified():
    cuda = next(p for p in qf.profiles() if p["name"] == "torch-cuda")
    assert cuda["verified"] is False and cuda["checked_on"] == []
    assert qf.profile("torch-cuda").verified is False


# ---------------------------------------------------------------------------
# exhaustive (opt-in): every float32 input, torch CPU, profile torch-cpu


@pytest.mark.exhaustive
@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz",
                                 "fp8_e5m2fnuz", "fp8_e8m0fnu", "int8", "uint8", "int16",
                                 "int32"])
def test_exhaustive_torch_cpu(fmt):
    r = _verify.verify("torch", formats=[fmt], exhaustive=True, sources=["f32"],
                       decode_check=False)
    assert r["cases"][0]["inputs"] == 1 << 32
    assert r["clean"], json.dumps(r["cases"], indent=1)[:3000]


@pytest.mark.exhaustive
@pytest.mark.parametrize("against,fmt", [("numpy", "fp16"), ("ml_dtypes", "bf16"),
                                         ("ml_dtypes", "fp8_e4m3fn"),
                                         ("ml_dtypes", "fp8_e5m2"),
                                         ("ml_dtypes", "fp8_e8m0fnu"),
                                         ("ml_dtypes", "fp8_e5m3fnu"), ("ml_dtypes", "int2"),
                                         ("ml_dtypes", "uint2"), ("ml_dtypes", "int4"),
                                         ("ml_dtypes", "uint4")])
def test_exhaustive_numpy_ml_dtypes(against, fmt):
    r = _verify.verify(against, formats=[fmt], exhaustive=True, sources=["f32"],
                       decode_check=False)
    assert r["clean"], json.dumps(r["cases"], indent=1)[:3000]
