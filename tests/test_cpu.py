"""The processor's own conversion instructions (qformat-cpu) against the x86
hardware profiles: one test per documented rule, each running the real
instruction where the processor has it (docs/verification/cpu.md), sampled
sweeps of every instruction × MXCSR mode, the exhaustive 2^32 sweeps behind
``-m exhaustive``, and the "not available" path forced by
``QFORMAT_CPU_DISABLE``."""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf
from qformat import _native
from qformat.verify.cpu import INSTRUCTIONS, MODES, Mode, verify_cpu

FEATURES = dict(_native.cpu_features())


def needs(feature: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not FEATURES.get(feature, False),
                              reason=f"this processor lacks {feature}")


def run(name: str, x: np.ndarray, out_dtype: type, **kw: object) -> list:
    """The instruction's result words for ``x`` (uint32 / uint64 words)."""
    out = np.empty(x.size, out_dtype)
    _native.cpu_convert(name, np.ascontiguousarray(x), out, **kw)
    return [int(v) for v in out]


def f32(*v: float) -> np.ndarray:
    return np.array(v, np.float32).view(np.uint32)


def f64(*v: float) -> np.ndarray:
    return np.array(v, np.float64).view(np.uint64)


SUB32 = np.array([1, 0x400000, 0x807FFFFF], np.uint32)   # float32 subnormals (one negative)
SUB64 = np.array([1, 0x8000000000000001], np.uint64)     # float64 subnormals


# --- F16C VCVTPS2PH ---------------------------------------------------------

# 1 + 2^-11 + 2^-12 lies above the tie between halves 0x3c00 and 0x3c01.
ABOVE_TIE = f32(1 + 2.0**-11 + 2.0**-12, -(1 + 2.0**-11 + 2.0**-12))


@needs("f16c")
@pytest.mark.parametrize("imm,want", [(0, [0x3C01, 0xBC01]), (1, [0x3C00, 0xBC01]),
                                      (2, [0x3C01, 0xBC00]), (3, [0x3C00, 0xBC00])])
def test_f16c_immediate_chooses_rounding(imm: int, want: list) -> None:
    # under MXCSR.RC = toward zero: the immediate (bit 2 clear) wins
    assert run("vcvtps2ph", ABOVE_TIE, np.uint16, imm=imm, rc=3) == want
    mode = ("nearest_even", "down", "up", "toward_zero")[imm]
    assert qf.encode(ABOVE_TIE.view(np.float32), "fp16", profile="x86-f16c",
                     rounding=mode).tolist() == want


@needs("f16c")
@pytest.mark.parametrize("rc", range(4))
def test_f16c_immediate_4_reads_mxcsr(rc: int) -> None:
    assert run("vcvtps2ph", ABOVE_TIE, np.uint16, imm=4, rc=rc) == \
        run("vcvtps2ph", ABOVE_TIE, np.uint16, imm=rc)


@needs("f16c")
def test_f16c_ignores_ftz() -> None:
    x = f32(2.0**-20, -(2.0**-20), 2.0**-24)        # float16 subnormals
    assert run("vcvtps2ph", x, np.uint16, ftz=True) == [0x0010, 0x8010, 0x0001]
    assert qf.encode(x.view(np.float32), "fp16", profile="x86-f16c").tolist() == \
        [0x0010, 0x8010, 0x0001]


@needs("f16c")
def test_f16c_honours_daz() -> None:
    # float32 subnormals round up to the smallest half under imm=2 (up),
    # unless DAZ reads them as zero first.
    assert run("vcvtps2ph", SUB32, np.uint16, imm=2) == [0x0001, 0x0001, 0x8000]
    assert run("vcvtps2ph", SUB32, np.uint16, imm=2, daz=True) == [0, 0, 0x8000]
    got = qf.encode(SUB32.view(np.float32), "fp16", profile="x86-f16c", rounding="up", daz=True)
    assert got.tolist() == [0, 0, 0x8000]


@needs("f16c")
def test_f16c_quiets_nan_keeping_leading_payload() -> None:
    x = np.array([0x7F800001, 0x7FA00000, 0xFFC00001, 0x7F802000], np.uint32)
    want = [0x7E00, 0x7F00, 0xFE00, 0x7E01]
    assert run("vcvtps2ph", x, np.uint16) == want
    assert qf.encode(x.view(np.float32), "fp16", profile="x86-f16c").tolist() == want


# --- SSE CVTSD2SS / CVTSS2SD under MXCSR -------------------------------------

# Just below 2^-126: the first rounds to 2^-126 at full precision (not tiny
# after rounding, kept by FTZ); the second rounds to 2^-126 - 2^-150 (tiny
# after rounding: FTZ flushes it, although rounding to the subnormal grid
# would give 2^-126 — what subnormals=False gives).
NEAR_MIN = f64(2.0**-126 - 2.0**-151, 2.0**-126 - 2.0**-151 - 2.0**-170)


@needs("sse2")
def test_ftz_detects_tininess_after_rounding() -> None:
    assert run("cvtsd2ss", NEAR_MIN, np.uint32, ftz=True) == [0x00800000, 0]
    got = qf.encode(NEAR_MIN.view(np.float64), "fp32", profile="x86-sse", ftz=True)
    assert got.tolist() == [0x00800000, 0]
    # not the same as subnormals=False (flush after rounding to the grid)
    nosub = qf.encode(NEAR_MIN.view(np.float64), "fp32", subnormals=False)
    assert nosub.tolist() == [0x00800000, 0x00800000]


@needs("sse2")
@pytest.mark.parametrize("rc", range(4))
def test_ftz_flushes_to_signed_zero_in_every_mode(rc: int) -> None:
    x = f64(2.0**-140, -(2.0**-140), 2.0**-149)
    assert run("cvtsd2ss", x, np.uint32, rc=rc, ftz=True) == [0, 0x80000000, 0]
    mode = ("nearest_even", "down", "up", "toward_zero")[rc]
    got = qf.encode(x.view(np.float64), "fp32", profile="x86-sse", rounding=mode, ftz=True)
    assert got.tolist() == [0, 0x80000000, 0]


@needs("sse2")
def test_daz_zeroes_subnormal_inputs_before_rounding() -> None:
    # rounding up, the smallest float64 subnormal gives the smallest float32
    # subnormal; under DAZ it is +0 first
    assert run("cvtsd2ss", SUB64, np.uint32, rc=2) == [1, 0x80000000]
    assert run("cvtsd2ss", SUB64, np.uint32, rc=2, daz=True) == [0, 0x80000000]
    got = qf.encode(SUB64.view(np.float64), "fp32", profile="x86-sse", rounding="up", daz=True)
    assert got.tolist() == [0, 0x80000000]


@needs("sse2")
def test_cvtss2sd_daz_and_ftz() -> None:
    exact = [int(v) for v in SUB32.view(np.float32).astype(np.float64).view(np.uint64)]
    assert run("cvtss2sd", SUB32, np.uint64, ftz=True) == exact     # widening is never tiny
    assert run("cvtss2sd", SUB32, np.uint64, daz=True) == [0, 0, 1 << 63]
    got = qf.encode(SUB32.view(np.float32), "fp64", profile="x86-sse", daz=True)
    assert got.tolist() == [0, 0, 1 << 63]


def test_explain_answers_what_a_fast_math_build_stores() -> None:
    assert qf.explain("1e-40", "fp32", profile="x86-sse").bits != 0
    e = qf.explain("1e-40", "fp32", profile="x86-sse", ftz=True)
    assert e.bits == 0
    assert "MXCSR.FTZ" in e.note and "tiny after rounding" in e.note and "0x000116c2" in e.note
    assert "-ffast-math" in e.note
    assert qf.explain("1e-40", "fp32", profile="x86-sse").note == ""
    assert "MXCSR.DAZ" in qf.explain("1e-310", "fp32", profile="x86-sse", rounding="up",
                                     daz=True).note
    # DAZ reads the literal as a double: 1e-40 is a normal double
    assert qf.explain("1e-40", "fp32", profile="x86-sse", daz=True).bits != 0
    assert qf.explain("1e-310", "fp32", profile="x86-sse", rounding="up", daz=True).bits == 0
    assert qf.explain("1e-310", "fp32", profile="x86-sse", rounding="up").bits == 1


def test_cli_explain_takes_ftz_and_daz() -> None:
    from click.testing import CliRunner
    from qformat.cli import main
    r = CliRunner().invoke(main, ["explain", "1e-40", "fp32", "--profile", "x86-sse", "--ftz"])
    assert r.exit_code == 0, r.output
    assert "MXCSR.FTZ" in r.output and "0x00000000" in r.output
    r = CliRunner().invoke(main, ["explain", "1e-40", "fp32", "--ftz", "--json"])
    assert r.exit_code == 0, r.output
    assert '"bits": 0' in r.output
    r = CliRunner().invoke(main, ["explain", "1e-310", "fp32", "--daz", "--rounding", "up"])
    assert "MXCSR.DAZ" in r.output


# --- SSE float -> int32 -----------------------------------------------------

@needs("sse2")
def test_int_conversions_give_integer_indefinite() -> None:
    x = f32(np.nan, 2.0**31, -(2.0**31), np.inf, 2.5, 3.5, -2.5)
    want = [0x80000000, 0x80000000, 0x80000000, 0x80000000, 2, 4, (-2) & 0xFFFFFFFF]
    assert run("cvtss2si", x, np.uint32) == want
    got = qf.encode(x.view(np.float32), "int32", profile="x86-sse")
    assert (got.view(np.uint32)).tolist() == want
    assert run("cvttss2si", x, np.uint32, rc=2)[4:] == [2, 3, (-2) & 0xFFFFFFFF]


@needs("sse2")
@pytest.mark.parametrize("name", ["cvtss2si", "cvtss2si64"])
def test_int_conversions_honour_daz(name: str) -> None:
    # RC=up: a positive float32 subnormal rounds up to 1, unless DAZ reads
    # it as +0 first (then 0); -subnormal rounds up to 0 either way
    dt = np.uint64 if name.endswith("64") else np.uint32
    assert run(name, SUB32, dt, rc=2) == [1, 1, 0]
    assert run(name, SUB32, dt, rc=2, daz=True) == [0, 0, 0]
    target = "int64" if name.endswith("64") else "int32"
    x = SUB32.view(np.float32)
    assert qf.encode(x, target, profile="x86-sse", rounding="up").tolist() == [1, 1, 0]
    assert qf.encode(x, target, profile="x86-sse", rounding="up", daz=True).tolist() == [0, 0, 0]


@needs("sse2")
def test_int_conversions_of_float64_honour_daz() -> None:
    assert run("cvtsd2si", SUB64, np.uint32, rc=2) == [1, 0]
    assert run("cvtsd2si", SUB64, np.uint32, rc=2, daz=True) == [0, 0]
    got = qf.encode(SUB64.view(np.float64), "int32", profile="x86-sse", rounding="up", daz=True)
    assert got.tolist() == [0, 0]


def test_int_daz_and_ftz_options_are_checked() -> None:
    with pytest.raises(ValueError, match="ftz"):
        qf.encode(np.float32([1.5]), "int32", profile="x86-sse", ftz=True)
    with pytest.raises(ValueError, match="daz"):
        qf.encode(np.int64([1]), "int32", daz=True)


INDEFINITE64 = 1 << 63


@needs("sse2")
def test_int64_forms_give_integer_indefinite() -> None:
    x = f32(np.nan, 2.0**63, -(2.0**63), np.inf, 2.5, -3.5, 2.0**40)
    want = [INDEFINITE64, INDEFINITE64, INDEFINITE64, INDEFINITE64, 2, (-4) & (2**64 - 1), 2**40]
    assert run("cvtss2si64", x, np.uint64) == want
    got = qf.encode(x.view(np.float32), "int64", profile="x86-sse")
    assert got.view(np.uint64).tolist() == want
    assert run("cvttss2si64", x, np.uint64, rc=2)[4:6] == [2, (-3) & (2**64 - 1)]
    y = f64(np.nan, 2.0**63, 2.0**63 - 1024, -(2.0**63), 0.5, 1.5)
    want64 = [INDEFINITE64, INDEFINITE64, 2**63 - 1024, INDEFINITE64, 0, 2]
    assert run("cvtsd2si64", y, np.uint64) == want64
    got = qf.encode(y.view(np.float64), "int64", profile="x86-sse")
    assert got.view(np.uint64).tolist() == want64
    assert run("cvttsd2si64", y, np.uint64)[4:] == [0, 1]


# --- float16 sources: VCVTPH2PS (F16C), VCVTPH2PSX/VCVTSH2SS/VCVTSH2SI ------

HALF_SUB = np.array([0x0001, 0x03FF, 0x8001], np.uint16)     # float16 subnormals
HALF_SUB_F32 = [0x33800000, 0x387FC000, 0xB3800000]           # their exact float32 values


@needs("f16c")
@pytest.mark.parametrize("ftz,daz", [(False, False), (True, True), (False, True)])
def test_vcvtph2ps_is_exact_and_ignores_daz(ftz: bool, daz: bool) -> None:
    # measured: MXCSR.DAZ does not zero half subnormals (they are float32
    # normals after widening; the widening is exact in every mode)
    assert run("vcvtph2ps", HALF_SUB, np.uint32, rc=3, ftz=ftz, daz=daz) == HALF_SUB_F32
    got = qf.encode(HALF_SUB.view(np.float16), "fp32", profile="x86-f16c")
    assert got.tolist() == HALF_SUB_F32


@needs("f16c")
def test_vcvtph2ps_quiets_nan_keeping_payload() -> None:
    x = np.array([0x7C01, 0xFE00, 0x7D00], np.uint16)
    want = run("vcvtph2ps", x, np.uint32)
    assert want == [0x7FC02000, 0xFFC00000, 0x7FE00000]
    assert qf.encode(x.view(np.float16), "fp32", profile="x86-f16c").tolist() == want


@needs("avx512fp16")
@pytest.mark.parametrize("name", ["vcvtph2psx", "vcvtsh2ss"])
def test_fp16_widening_is_exact_and_ignores_daz(name: str) -> None:
    assert run(name, HALF_SUB, np.uint32, daz=True, ftz=True) == HALF_SUB_F32


@needs("avx512fp16")
def test_vcvtsh2si_rounds_by_mxcsr_and_gives_indefinite() -> None:
    # 2.5, 1 + 2^-10, inf, NaN, -2.5
    x = np.array([0x4100, 0x3C01, 0x7C00, 0x7E00, 0xC100], np.uint16)
    ind = 0x80000000
    assert run("vcvtsh2si", x, np.uint32) == [2, 1, ind, ind, (-2) & 0xFFFFFFFF]
    assert run("vcvtsh2si", x, np.uint32, rc=2) == [3, 2, ind, ind, (-2) & 0xFFFFFFFF]
    assert run("vcvttsh2si", x, np.uint32, rc=2) == [2, 1, ind, ind, (-2) & 0xFFFFFFFF]
    got = qf.encode(x.view(np.float16), "int32", profile="x86-avx512fp16", rounding="up")
    assert got.view(np.uint32).tolist() == [3, 2, ind, ind, (-2) & 0xFFFFFFFF]


# --- documented only: AVX-NE-CONVERT, AVX10.2 FP8 ----------------------------

DOCUMENTED_ONLY = ["vcvtneps2bf16-vex", "vbcstnesh2ps", "vbcstnebf162ps", "vcvtph2bf8",
                   "vcvtph2bf8s", "vcvtph2hf8", "vcvtph2hf8s", "vcvthf82ph"]


def test_documented_profiles_are_unverified() -> None:
    by_name = {p["name"]: p for p in qf.profiles()}
    for name in ("x86-avxneconvert", "x86-avx10-fp8"):
        assert by_name[name]["verified"] is False
        assert by_name[name]["checked_on"] == []
    for name in ("x86-sse", "x86-f16c", "x86-avx512bf16", "x86-avx512fp16"):
        assert by_name[name]["verified"] is True


def test_documented_fp8_rules() -> None:
    """AVX10.2 (Intel AVX10.2 spec, VCVTPH2BF8/VCVTPH2HF8): nearest even with
    MXCSR ignored; BF8 overflows to inf, HF8 to NaN; the S forms saturate
    (inf included). 464 is the tie between HF8's max 448 and the NaN code."""
    h = np.array([0x7BFF, 0x5F40, 0x5F41, 0x0001, 0x7C00, 0x7E01], np.uint16).view(np.float16)
    kw = {"profile": "x86-avx10-fp8"}
    assert qf.encode(h, "fp8_e5m2", **kw).tolist() == [0x7C, 0x5F, 0x5F, 0, 0x7C, 0x7E]
    assert qf.encode(h, "fp8_e5m2", overflow="saturate", **kw).tolist() == \
        [0x7B, 0x5F, 0x5F, 0, 0x7B, 0x7E]
    assert qf.encode(h, "fp8_e4m3fn", **kw).tolist() == [0x7F, 0x7E, 0x7F, 0, 0x7F, 0x7F]
    assert qf.encode(h, "fp8_e4m3fn", overflow="saturate", **kw).tolist() == \
        [0x7E, 0x7E, 0x7E, 0, 0x7E, 0x7F]


@pytest.mark.parametrize("name", DOCUMENTED_ONLY)
def test_documented_only_instructions_skip_when_absent(name: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QFORMAT_CPU_DISABLE", "avxneconvert,avx10.2")
    feats = dict(_native.cpu_features())
    assert feats["avxneconvert"] is False and feats["avx10.2"] is False
    rep = verify_cpu([name], samples=64)
    assert rep["ran"] == 0 and not rep["clean"]
    assert [s["reason"] for s in rep["skipped"]] == \
        [f"{name} is not available on this processor (needs {INSTRUCTIONS[name].feature})"]


def test_cli_documented_only_instruction_is_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from qformat.cli import main
    monkeypatch.setenv("QFORMAT_CPU_DISABLE", "avx10.2")
    r = CliRunner().invoke(main, ["verify", "--against", "cpu", "--instruction", "vcvtph2hf8s",
                                  "--quiet", "--json"])
    assert r.exit_code == 1, r.output
    assert "not available on this processor" in r.output


# --- AVX512_BF16 VCVTNEPS2BF16 ---------------------------------------------

@needs("avx512bf16")
def test_bf16_flushes_subnormal_inputs_and_ignores_mxcsr() -> None:
    assert run("vcvtneps2bf16", SUB32, np.uint16) == [0, 0, 0x8000]
    # 1 + 2^-8 + 2^-9 (above the tie): nearest even even under RC = toward zero
    x = f32(1 + 2.0**-8 + 2.0**-9, 1 + 2.0**-8)
    assert run("vcvtneps2bf16", x, np.uint16, rc=3) == [0x3F81, 0x3F80]
    ours = qf.encode(np.concatenate([SUB32, x]).view(np.float32), "bf16",
                     profile="x86-avx512bf16")
    assert ours.tolist() == [0, 0, 0x8000, 0x3F81, 0x3F80]


@needs("avx512bf16")
def test_bf16_quiets_nan() -> None:
    x = np.array([0x7F800001, 0xFF812345, 0x7FC00000], np.uint32)
    want = run("vcvtneps2bf16", x, np.uint16)
    assert want == [0x7FC0, 0xFFC1, 0x7FC0]
    assert qf.encode(x.view(np.float32), "bf16", profile="x86-avx512bf16").tolist() == want


# --- AVX512_FP16 ------------------------------------------------------------

@needs("avx512fp16")
def test_fp16x_keeps_subnormal_results_under_ftz_and_honours_daz() -> None:
    x = f32(2.0**-20, -(2.0**-20))
    assert run("vcvtps2phx", x, np.uint16, ftz=True) == [0x0010, 0x8010]
    assert run("vcvtps2phx", SUB32, np.uint16, rc=2) == [1, 1, 0x8000]
    assert run("vcvtps2phx", SUB32, np.uint16, rc=2, daz=True) == [0, 0, 0x8000]
    x64 = f64(2.0**-20, 1 + 2.0**-11 + 2.0**-40)
    # float64 -> float16 directly: one rounding (no double rounding via float32)
    assert run("vcvtsd2sh", x64, np.uint16, ftz=True) == [0x0010, 0x3C01]
    assert run("vcvtsd2sh", SUB64, np.uint16, rc=2, daz=True) == [0, 0x8000]


# --- sweeps -----------------------------------------------------------------

def test_sampled_sweep_every_instruction_and_mode() -> None:
    rep = verify_cpu(samples=1 << 12)
    assert rep["ran"] > 0
    bad = [(c["direction"], c["classes"]) for c in rep["cases"] if c["mismatches"]]
    assert not bad, bad[:3]
    ran = {c["instruction"] for c in rep["cases"]}
    for name, ins in INSTRUCTIONS.items():
        assert (name in ran) == FEATURES[ins.feature]


@needs("f16c")
@needs("sse2")
@pytest.mark.parametrize("name", ["vcvtps2ph/imm0", "cvtsd2ss", "vcvtneps2bf16"])
def test_sampled_sweep_2_20(name: str) -> None:
    if not FEATURES[INSTRUCTIONS[name].feature]:
        pytest.skip("not on this processor")
    rep = verify_cpu([name], [Mode(), Mode(2, True, True)], samples=1 << 20)
    assert rep["ran"] == 2 and rep["mismatches"] == 0, rep["cases"]


def test_forcing_a_feature_off_reports_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QFORMAT_CPU_DISABLE", "f16c,avx512bf16")
    assert dict(_native.cpu_features())["f16c"] is False
    with pytest.raises(_native.CpuNotAvailableError, match="not available on this processor"):
        run("vcvtps2ph", ABOVE_TIE, np.uint16)
    rep = verify_cpu(["vcvtps2ph", "vcvtneps2bf16"], samples=64)
    assert rep["ran"] == 0 and rep["inputs"] == 0
    assert not rep["clean"], "nothing ran: not a pass"
    assert len(rep["skipped"]) == 6
    assert all("not available on this processor" in s["reason"] for s in rep["skipped"])


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_each_feature_forced_off_skips_its_instructions(feature: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QFORMAT_CPU_DISABLE", feature)
    assert dict(_native.cpu_features())[feature] is False
    names = [n for n, ins in INSTRUCTIONS.items() if ins.feature == feature]
    assert names, feature
    rep = verify_cpu(names, [Mode()], samples=64)
    assert rep["ran"] == 0 and not rep["clean"]
    assert {s["instruction"] for s in rep["skipped"]} == set(names)
    assert all("not available on this processor" in s["reason"] for s in rep["skipped"])


def test_cli_against_cpu_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from qformat.cli import main
    monkeypatch.setenv("QFORMAT_CPU_DISABLE", "all")
    r = CliRunner().invoke(main, ["verify", "--against", "cpu", "--instruction", "cvtsd2ss",
                                  "--quiet", "--json"])
    assert r.exit_code == 1, r.output
    assert "not available on this processor" in r.output


# --- exhaustive: every float32 input ---------------------------------------

# every float32-source instruction x every MXCSR mode (192 sweeps of 2^32:
# hours; scripts/cpu_sweeps.sh runs the same comparisons and writes reports)
EXHAUSTIVE = [(n, m) for n, ins in INSTRUCTIONS.items() if ins.source == "f32"
              and ins.feature in ("sse2", "f16c", "avx512bf16", "avx512fp16") for m in MODES]


@pytest.mark.exhaustive
@pytest.mark.parametrize("name,mode", EXHAUSTIVE, ids=[f"{n}-{m.label}" for n, m in EXHAUSTIVE])
def test_exhaustive(name: str, mode: Mode) -> None:
    if not FEATURES[INSTRUCTIONS[name].feature]:
        pytest.skip("not on this processor")
    rep = verify_cpu([name], [mode], exhaustive=True)
    assert rep["ran"] == 1 and rep["cases"][0]["inputs"] == 1 << 32
    assert rep["mismatches"] == 0, rep["cases"][0]["classes"]


def test_modes_cover_mxcsr() -> None:
    assert len(MODES) == 16 and len({m.label for m in MODES}) == 16
    assert Mode.parse("rc=up,ftz=1") == Mode(2, True, False)


@needs("avx512bf16")
def test_fault_ieee_rules_for_bf16_are_classified_as_flushes() -> None:
    """A sweep can fail: with the IEEE profile in place of x86-avx512bf16,
    every fp32 subnormal mismatches, classified as a subnormal flush."""
    import dataclasses

    from qformat.verify.cpu import _CpuChecker, _inputs

    ins = dataclasses.replace(INSTRUCTIONS["vcvtneps2bf16"], profile="ieee")
    case = _inputs(ins, False, 1 << 14, 0, 1 << 14)
    r = _CpuChecker(case, ins, Mode()).run(lambda n: None)
    assert r["mismatches"] > 0 and "subnormal_flush" in r["classes"]
    # the rest: inputs below the smallest bf16 subnormal's half, which lie
    # strictly between the two results (a rounding choice, by the rules)
    assert set(r["classes"]) <= {"subnormal_flush", "rounding_direction"}, r["classes"]
