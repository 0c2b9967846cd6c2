"""Profiles you can trust: versioned library rules, options that always
win, rules on layouts (never names), names that never collide.

Each test here failed on the code before the policy layer (the defects of
the "profiles you can trust" issue). The versioned expectations are hard
facts measured on each release, so they hold whichever release is installed;
the comparisons with the installed library live in test_profiles.py and
``qformat verify``.
"""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf

# ---------------------------------------------------------------------------
# versions


def test_profile_names_and_versions():
    assert qf.profile("ml_dtypes@0.6").versions == "0.5–0.6"
    assert qf.profile("ml_dtypes@0.7.0").versions == "0.7+"
    assert qf.profile("torch-cpu@2.11").versions == "2.5–2.11"
    assert qf.profile("torch-cpu@2.11").verified is False
    assert qf.profile("ieee").name == "ieee"
    p = qf.profile("ml_dtypes@0.6")
    assert qf.profile(p) is p
    for bad in ("ml_dtypes@0.3", "ml_dtypes@x", "tensorflow", "ieee@1"):
        with pytest.raises(ValueError):
            qf.profile(bad)
    with pytest.raises(TypeError):
        qf.encode(1.0, "bf16", profile=3)


def test_bare_name_means_the_installed_release():
    import ml_dtypes

    p = qf.profile("ml_dtypes")
    assert p.version == ".".join(ml_dtypes.__version__.split(".")[:2])
    assert not p.guessed


def test_a_version_newer_than_known_is_flagged_not_guessed_silently():
    p = qf.Profile("ml_dtypes", [("ml_dtypes", "0.99.0")])
    assert p.guessed and p.versions == "0.7+"
    assert "outside" in repr(p)


def test_ml_dtypes_0_7_rounds_float64_directly():
    x = np.array([168.00000000000006])
    assert qf.encode(x, "fp8_e4m3fn", profile="ml_dtypes@0.7")[0] == 0x73
    assert qf.encode(x, "fp8_e4m3fn", profile="ml_dtypes@0.6")[0] == 0x72


def test_ml_dtypes_e8m0_float32_subnormals_by_release():
    x = np.array([0x00400001, 0x005FFFFF, 0x00600000], np.uint32).view(np.float32)
    assert list(qf.encode(x, "fp8_e8m0fnu", profile="ml_dtypes@0.7")) == [0x00, 0x00, 0x01]
    assert list(qf.encode(x, "fp8_e8m0fnu", profile="ml_dtypes@0.6")) == [0x01, 0x01, 0x01]
    tiny = np.array([1e-300, 1e-50])    # below float32: 0 through float32 in 0.6
    assert list(qf.encode(tiny, "fp8_e8m0fnu", profile="ml_dtypes@0.7")) == [0x00, 0x00]
    assert list(qf.encode(tiny, "fp8_e8m0fnu", profile="ml_dtypes@0.6")) == [0xFF, 0xFF]


def test_ml_dtypes_0_7_sub_byte_integers_truncate_or_give_zero():
    x = np.array([7.9, 8.0, -8.5, -9.0, 2.5, np.nan, np.inf, -np.inf], np.float32)
    assert list(qf.encode(x, "int4", profile="ml_dtypes@0.7")) == [7, 0, -8, 0, 2, 0, 0, 0]
    # 0.6: the C cast (truncate, through int32, keep the low bits)
    assert list(qf.encode(x[:5], "int4", profile="ml_dtypes@0.6")) == [7, -8, -8, 7, 2]
    assert list(qf.encode(x[:5], "uint2", profile="ml_dtypes@0.7")) == [0, 0, 0, 0, 2]
    # integer sources wrap (C integer conversion) in every release
    ints = np.array([300, -3, 7], np.int64)
    assert list(qf.encode(ints, "int4", profile="ml_dtypes@0.7")) == [-4, -3, 7]


def test_new_ml_dtypes_types_are_builtins():
    f = qf.format("float8_e5m3fnu")
    assert (f.name, f.exp_bits, f.man_bits, f.bias, f.signed, f.has_inf, f.nan) == (
        "fp8_e5m3fnu", 5, 3, 15, False, False, "fn")
    assert qf.finfo(f).max == 114688.0 and qf.finfo(f).smallest_subnormal == 2.0**-17
    for name, lo, hi in (("int1", -1, 0), ("uint1", 0, 1), ("int2", -2, 1), ("uint2", 0, 3)):
        info = qf.iinfo(name)
        assert (info.min, info.max) == (lo, hi)
    # ml_dtypes: a negative input that rounds to zero is NaN in an unsigned format
    x = np.array([-1e-30, -0.0, 0.0, 1.0], np.float32)
    assert list(qf.encode(x, f, profile="ml_dtypes")) == [0xFF, 0x00, 0x00, 0x78]
    assert list(qf.encode(x, f)) == [0x00, 0x00, 0x00, 0x78]


# ---------------------------------------------------------------------------
# an option the caller gives always wins


def test_explicit_rounding_wins_over_the_profile():
    assert qf.encode(3.0, "fp8_e8m0fnu", profile="torch-cpu") == 129          # ties away
    assert qf.encode(3.0, "fp8_e8m0fnu", profile="torch-cpu", rounding="nearest_even") == 128
    assert qf.encode(2.7, "int8", profile="torch-cpu") == 2                   # C cast truncates
    assert qf.encode(2.7, "int8", profile="torch-cpu", rounding="nearest_even") == 3
    assert qf.encode(2.5, "int8", profile="numpy", rounding="nearest_away") == 3


def test_torch_2_11_e4m3fn_overflow_is_nan_and_explicit_overflow_wins():
    x = np.array([1e6, -1e6, 464.0, 470.0], np.float32)
    assert list(qf.encode(x, "fp8_e4m3fn", profile="torch-cpu@2.11")) == [0x7F, 0xFF, 0x7E, 0x7F]
    assert list(qf.encode(x, "fp8_e4m3fn", profile="torch-cpu@2.12")) == [0x7E, 0xFE, 0x7E, 0x7E]
    got = qf.encode(x, "fp8_e4m3fn", profile="torch-cpu@2.11", overflow="saturate")
    assert list(got) == [0x7E, 0xFE, 0x7E, 0x7E]


def test_torch_arithmetic_honours_nearest_away():
    x = np.array([0.5, 2.5, -2.5])
    kw = {"rounding": "nearest_away"}
    assert list(qf.quantize_affine(x, 1.0, 0, "int8", arithmetic="torch", **kw)) == [1, 3, -3]
    assert list(qf.quantize_affine(x, 1.0, 0, "int8", arithmetic="exact", **kw)) == [1, 3, -3]
    assert list(qf.quantize_affine(x, 1.0, 0, "int8", arithmetic="torch")) == [0, 2, -2]


# ---------------------------------------------------------------------------
# rules follow layouts; names never collide


def test_rules_follow_the_layout_not_the_name():
    x = np.array([np.nan, 1.0], np.float32)
    same = qf.FloatFormat(8, 7, name="my_bf16")
    assert same == qf.bf16 and hash(same) == hash(qf.bf16)
    for fmt in (qf.FloatFormat(8, 7), same):
        np.testing.assert_array_equal(qf.encode(x, fmt, profile="torch-cpu"),
                                      qf.encode(x, qf.bf16, profile="torch-cpu"))
    e4 = qf.FloatFormat(4, 3, inf=False, nan="fn", name="mine")
    big = np.array([1e6], np.float32)
    assert qf.encode(big, e4, profile="torch-cpu")[0] == 0x7E


def _all_names() -> set:
    from qformat._formats import _ALIASES, _BUILTINS, _EXTRA_DTYPES

    return set(_BUILTINS) | set(_ALIASES) | set(_EXTRA_DTYPES)


@pytest.mark.parametrize("kw", [
    {"exp_bits": 4, "man_bits": 3}, {"exp_bits": 2, "man_bits": 1},
    {"exp_bits": 3, "man_bits": 2}, {"exp_bits": 5, "man_bits": 2, "bias": 3},
    {"exp_bits": 2, "man_bits": 3, "inf": False, "nan": "none", "bias": 2},
    {"exp_bits": 8, "man_bits": 0, "signed": False, "inf": False, "nan": "fn", "zero": True},
    {"exp_bits": 3, "man_bits": 4, "inf": False, "nan": "fn"},
])
def test_automatic_names_never_collide(kw):
    f = qf.FloatFormat(**kw)
    if f.name in _all_names():
        assert qf.format(f.name) == f, f"{f.name} names another layout"
    else:
        with pytest.raises(ValueError):
            qf.format(f.name)
    # a built-in's layout takes its name; otherwise an alias-like short name
    # ("e2m1" is fp4_e2m1fn's alias) gets its bias spelled out
    assert qf.FloatFormat(4, 3).name == "fp8_e4m3_ieee"
    assert qf.FloatFormat(4, 3, inf=False, nan="fn").name == "fp8_e4m3fn"
    assert qf.FloatFormat(2, 1).name == "e2m1_b1"
    assert qf.FloatFormat(4, 3, bias=5).name == "e4m3_b5"


def test_verify_names_the_release_and_warns_beyond_the_known_ones(monkeypatch):
    from qformat import _profiles
    from qformat import verify as _verify

    def fake() -> tuple:
        return (("ml_dtypes", "0.99.1"),)

    monkeypatch.setattr(_profiles, "installed_versions", fake)
    _profiles._parse.cache_clear()
    try:
        r = _verify.verify("ml_dtypes", formats=["bf16"], samples=1000, sources=["f32"],
                           decode_check=False)
        assert r["profile"] == "ml_dtypes@0.99" and r["profile_rules"] == "ml_dtypes 0.7+"
        assert any("outside the releases" in w for w in r["warnings"])
    finally:
        monkeypatch.undo()
        _profiles._parse.cache_clear()
    r = _verify.verify("ml_dtypes", formats=["bf16"], samples=1000, sources=["f32"],
                       decode_check=False)
    assert r["warnings"] == [] and r["clean"]
