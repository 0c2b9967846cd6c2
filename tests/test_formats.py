"""Formats as values: ``qf.format`` lookup, custom-format validation, value
equality, storage dtypes, and ``qf.finfo`` checked field by field against
"ml_dtypes.finfo" / numpy.finfo (the measured values are in
docs/verification/findings.md, section 3)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import qformat as qf
from _optional import lazy, resolve

ml_dtypes = lazy("ml_dtypes")
torch = lazy("torch")


FLOAT_BUILTINS = [
    "fp64", "fp32", "tf32", "fp16", "bf16", "fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2",
    "fp8_e5m2fnuz", "fp8_e8m0fnu", "fp8_e5m3fnu", "fp8_e4m3_ieee", "fp8_e3m4",
    "fp8_e4m3b11fnuz", "fp6_e2m3fn", "fp6_e3m2fn", "fp4_e2m1fn",
]
INT_BUILTINS = ["int1", "int2", "int4", "int8", "int16", "int32", "uint1", "uint2", "uint4",
                "uint8", "uint16"]

# (alias, canonical) pairs the documentation promises.
ALIASES = [
    ("float64", "fp64"), ("binary64", "fp64"), ("double", "fp64"),
    ("float32", "fp32"), ("binary32", "fp32"), ("single", "fp32"),
    ("tensorfloat32", "tf32"),
    ("float16", "fp16"), ("binary16", "fp16"), ("half", "fp16"),
    ("bfloat16", "bf16"),
    ("e4m3fn", "fp8_e4m3fn"), ("float8_e4m3fn", "fp8_e4m3fn"), ("e4m3", "fp8_e4m3fn"),
    ("float8_e4m3fnuz", "fp8_e4m3fnuz"),
    ("e5m2", "fp8_e5m2"), ("float8_e5m2", "fp8_e5m2"),
    ("float8_e5m2fnuz", "fp8_e5m2fnuz"),
    ("e8m0", "fp8_e8m0fnu"), ("float8_e8m0fnu", "fp8_e8m0fnu"),
    ("float6_e2m3fn", "fp6_e2m3fn"), ("float6_e3m2fn", "fp6_e3m2fn"),
    ("e2m1", "fp4_e2m1fn"), ("float4_e2m1fn", "fp4_e2m1fn"),
]

# Every float dtype the libraries have, with the qformat built-in it must map to.
DTYPES = [
    (np.float64, "fp64"), (np.float32, "fp32"), (np.float16, "fp16"),
    ("ml_dtypes.bfloat16", "bf16"), ("ml_dtypes.float8_e4m3fn", "fp8_e4m3fn"),
    ("ml_dtypes.float8_e4m3fnuz", "fp8_e4m3fnuz"), ("ml_dtypes.float8_e5m2", "fp8_e5m2"),
    ("ml_dtypes.float8_e5m2fnuz", "fp8_e5m2fnuz"), ("ml_dtypes.float8_e8m0fnu", "fp8_e8m0fnu"),
    ("ml_dtypes.float6_e2m3fn", "fp6_e2m3fn"), ("ml_dtypes.float6_e3m2fn", "fp6_e3m2fn"),
    ("ml_dtypes.float4_e2m1fn", "fp4_e2m1fn"),
    ("torch.float64", "fp64"), ("torch.float32", "fp32"), ("torch.float16", "fp16"),
    ("torch.bfloat16", "bf16"), ("torch.float8_e4m3fn", "fp8_e4m3fn"),
    ("torch.float8_e4m3fnuz", "fp8_e4m3fnuz"), ("torch.float8_e5m2", "fp8_e5m2"),
    ("torch.float8_e5m2fnuz", "fp8_e5m2fnuz"), ("torch.float8_e8m0fnu", "fp8_e8m0fnu"),
    (np.int8, "int8"), (np.int16, "int16"), (np.int32, "int32"),
    (np.uint8, "uint8"), (np.uint16, "uint16"),
    ("torch.int8", "int8"), ("torch.int16", "int16"), ("torch.int32", "int32"),
    ("torch.uint8", "uint8"),
]

# The layout each built-in must have: (exp_bits, man_bits, bias, signed, has_inf, nan).
LAYOUTS = {
    "fp64": (11, 52, 1023, True, True, "ieee"),
    "fp32": (8, 23, 127, True, True, "ieee"),
    "fp8_e5m3fnu": (5, 3, 15, False, False, "fn"),
    "fp8_e4m3_ieee": (4, 3, 7, True, True, "ieee"),
    "fp8_e3m4": (3, 4, 3, True, True, "ieee"),
    "fp8_e4m3b11fnuz": (4, 3, 11, True, False, "fnuz"),
    "tf32": (8, 10, 127, True, True, "ieee"),
    "fp16": (5, 10, 15, True, True, "ieee"),
    "bf16": (8, 7, 127, True, True, "ieee"),
    "fp8_e4m3fn": (4, 3, 7, True, False, "fn"),
    "fp8_e4m3fnuz": (4, 3, 8, True, False, "fnuz"),
    "fp8_e5m2": (5, 2, 15, True, True, "ieee"),
    "fp8_e5m2fnuz": (5, 2, 16, True, False, "fnuz"),
    "fp8_e8m0fnu": (8, 0, 127, False, False, "fn"),
    "fp6_e2m3fn": (2, 3, 1, True, False, "none"),
    "fp6_e3m2fn": (3, 2, 3, True, False, "none"),
    "fp4_e2m1fn": (2, 1, 1, True, False, "none"),
}


def test_builtin_list_is_the_api_table():
    assert qf.formats() == FLOAT_BUILTINS + INT_BUILTINS


@pytest.mark.parametrize("name", FLOAT_BUILTINS + INT_BUILTINS)
def test_canonical_names_and_attributes(name):
    f = qf.format(name)
    assert f.name == name
    assert getattr(qf, name) is f or getattr(qf, name) == f
    assert qf.format(name.upper()) == f
    assert qf.format(f) is f


@pytest.mark.parametrize("name", FLOAT_BUILTINS)
def test_float_layouts(name):
    f = qf.format(name)
    assert f.kind == "float"
    assert (f.exp_bits, f.man_bits, f.bias, f.signed, f.has_inf, f.nan) == LAYOUTS[name]
    assert f.bits == f.exp_bits + f.man_bits + int(f.signed)


@pytest.mark.parametrize("alias,name", ALIASES)
def test_aliases(alias, name):
    assert qf.format(alias) == qf.format(name)
    assert qf.format(alias).name == name


@pytest.mark.parametrize("dtype,name", DTYPES, ids=lambda v: str(v))
def test_library_dtypes(dtype, name):
    dtype = resolve(dtype)
    assert qf.format(dtype) == qf.format(name)
    if not type(dtype).__module__.startswith("torch"):
        assert qf.format(np.dtype(dtype)) == qf.format(name)


@pytest.mark.parametrize("dtype,name", [d for d in DTYPES if not str(d[0]).startswith("torch")],
                         ids=lambda v: str(v))
def test_source_format_cache_gives_the_names_answer(dtype, name):
    """The per-dtype cache of source formats (a set-up cost each call paid)
    answers what the name lookup answers, on the first call and from the
    cache, in either byte order; a structured dtype is not a source."""
    from qformat import _arrays

    dt = np.dtype(resolve(dtype))
    for d in (dt, dt.newbyteorder()):
        expected = _arrays._source_format_by_name(d)
        assert _arrays.float_source_format(d) == expected
        assert _arrays.float_source_format(d) == expected
    assert _arrays.float_source_format(dt) == (
        qf.format(name) if dt.kind in "fV" else None)
    pair = np.dtype([("a", dt), ("b", np.int8)])
    assert _arrays.float_source_format(pair) is None


def test_source_format_cache_stays_bounded():
    from qformat import _arrays

    for i in range(300):
        _arrays.float_source_format(np.dtype([(f"f{i}", np.float32)]))
    assert len(_arrays._SOURCE_BY_DTYPE) <= 256


def test_ml_dtypes_extras_are_plain_exmy_formats():
    b11 = qf.format(ml_dtypes.float8_e4m3b11fnuz)
    assert b11 == qf.FloatFormat(4, 3, bias=11, inf=False, nan="fnuz")
    assert qf.format(ml_dtypes.float8_e3m4) == qf.FloatFormat(3, 4)
    assert qf.format(ml_dtypes.float8_e4m3) == qf.FloatFormat(4, 3)


@pytest.mark.parametrize("spec,expected", [
    ("bf61", "bf16"), ("fp8_e4m3fx", "fp8_e4m3fn"), ("float8_e5m2fuz", "float8_e5m2fnuz"),
    ("fp61", "fp16"),
])
def test_unknown_names_suggest_close_matches(spec, expected):
    with pytest.raises(ValueError) as err:
        qf.format(spec)
    assert repr(spec) in str(err.value)
    assert repr(expected) in str(err.value)


@pytest.mark.parametrize("spec,exc", [
    ("", ValueError), ("no_such_format_at_all", ValueError), (np.complex64, ValueError),
    ("torch.complex64", ValueError), (3.5, TypeError), (object(), TypeError),
])
def test_bad_specs(spec, exc):
    spec = resolve(spec)
    with pytest.raises(exc):
        qf.format(spec)


@pytest.mark.parametrize("args,kwargs", [
    ((0, 3), {}),                       # IEEE's inf and NaN need an exponent field
    ((0, 3), {"nan": "fn", "inf": False, "zero": False}),  # zero=False needs one too
    ((12, 3), {}),                      # exponent wider than 11 bits
    ((11, 53), {}),                     # more than 64 bits in total
    ((8, 60), {}),
    ((-1, 3), {}),
    ((4, 3), {"nan": "quiet"}),         # unknown NaN encoding
    ((4, 0), {"nan": "ieee"}),          # IEEE NaNs need a fraction bit
    ((1, 0), {"nan": "fn", "inf": True, "signed": False}),  # NaN and inf leave no value
    ((4, 3), {"nan": "none", "inf": True}),  # infinities need the top exponent code
    ((1, 0), {"signed": False, "inf": False, "nan": "none", "zero": False, "bias": 10**6}),
])
def test_impossible_formats_raise_value_error(args, kwargs):
    with pytest.raises(ValueError):
        qf.FloatFormat(*args, **kwargs)


@pytest.mark.parametrize("args,exc", [((4.0, 3), TypeError), ((4, "3"), TypeError),
                                      ((True, 3), TypeError)])
def test_format_argument_types(args, exc):
    with pytest.raises(exc):
        qf.FloatFormat(*args)


@pytest.mark.parametrize("bits,signed", [(0, True), (65, True), (-3, False)])
def test_impossible_int_formats(bits, signed):
    with pytest.raises(ValueError):
        qf.IntFormat(bits, signed=signed)


def test_equality_and_hash_by_value():
    e4m3 = qf.FloatFormat(4, 3, inf=False, nan="fn")
    assert e4m3 == qf.fp8_e4m3fn
    assert hash(e4m3) == hash(qf.fp8_e4m3fn)
    assert qf.FloatFormat(5, 10) == qf.fp16
    assert qf.FloatFormat(8, 7, name="my_bf16") == qf.bf16     # the name is not part of the value
    assert qf.FloatFormat(5, 2, bias=16, inf=False, nan="fnuz") == qf.fp8_e5m2fnuz
    assert qf.FloatFormat(4, 3) != qf.fp8_e4m3fn                # IEEE e4m3 has infinities
    assert qf.FloatFormat(4, 3, bias=8, inf=False, nan="fn") != qf.fp8_e4m3fn
    assert qf.FloatFormat(5, 10, signed=False) != qf.fp16
    assert qf.IntFormat(8) == qf.int8 and hash(qf.IntFormat(8)) == hash(qf.int8)
    assert qf.IntFormat(8, signed=False) == qf.uint8 != qf.int8
    assert qf.int8 != qf.fp8_e4m3fn
    assert len({qf.fp16, qf.FloatFormat(5, 10), qf.format("half"), qf.bf16}) == 2
    assert {qf.fp8_e4m3fn: 1}[e4m3] == 1


def test_default_bias():
    assert qf.FloatFormat(3, 2).bias == 3
    assert qf.FloatFormat(5, 4, bias=10).bias == 10
    assert qf.FloatFormat(4, 3, inf=False, nan="fnuz").bias == 8     # one more for fnuz


def test_formats_pickle_by_value():
    for f in (qf.bf16, qf.FloatFormat(5, 4, bias=10), qf.int4):
        assert pickle.loads(pickle.dumps(f)) == f


@pytest.mark.parametrize("name,dtype", [
    ("fp64", np.uint64), ("fp32", np.uint32), ("tf32", np.uint32), ("fp16", np.uint16),
    ("bf16", np.uint16), ("fp8_e4m3fn", np.uint8), ("fp8_e8m0fnu", np.uint8),
    ("fp6_e2m3fn", np.uint8), ("fp4_e2m1fn", np.uint8),
    ("int4", np.int8), ("int8", np.int8), ("int16", np.int16), ("int32", np.int32),
    ("uint4", np.uint8), ("uint8", np.uint8), ("uint16", np.uint16),
])
def test_storage_dtype(name, dtype):
    f = qf.format(name)
    assert f.storage_dtype == np.dtype(dtype)
    if f.kind == "float":
        assert qf.encode(np.zeros(3), f).dtype == np.dtype(dtype)


def test_custom_storage_dtypes():
    assert qf.FloatFormat(8, 23, signed=False).storage_dtype == np.uint32    # 31 bits
    assert qf.FloatFormat(8, 24).storage_dtype == np.uint64                  # 33 bits
    assert qf.FloatFormat(2, 1, signed=False, inf=False, nan="none").storage_dtype == np.uint8


# ---------------------------------------------------------------------------
# finfo against ml_dtypes.finfo / numpy.finfo

FINFO_FIELDS = ["bits", "eps", "epsneg", "max", "min", "tiny", "smallest_normal",
                "smallest_subnormal", "maxexp", "minexp", "nexp", "nmant", "precision",
                "resolution"]

FINFO_TYPES = [
    "ml_dtypes.bfloat16", "ml_dtypes.float8_e4m3fn", "ml_dtypes.float8_e4m3fnuz",
    "ml_dtypes.float8_e5m2", "ml_dtypes.float8_e5m2fnuz", "ml_dtypes.float8_e8m0fnu",
    "ml_dtypes.float6_e2m3fn", "ml_dtypes.float6_e3m2fn", "ml_dtypes.float4_e2m1fn",
    "ml_dtypes.float8_e4m3b11fnuz", "ml_dtypes.float8_e4m3", "ml_dtypes.float8_e3m4",
    np.float16, np.float32, np.float64,
]


def _finfo_cases():
    for t in FINFO_TYPES:
        for field in FINFO_FIELDS:
            label = getattr(t, "__name__", str(t).rpartition(".")[2])
            yield pytest.param(t, field, id=f"{label}-{field}")


@pytest.mark.parametrize("dtype,field", list(_finfo_cases()))
def test_finfo_matches_library(dtype, field):
    dtype = resolve(dtype)
    theirs = getattr(ml_dtypes.finfo(dtype), field)
    ours = getattr(qf.finfo(qf.format(dtype)), field)
    if isinstance(theirs, (int, np.integer)):
        assert isinstance(ours, (int, np.integer)) and int(ours) == int(theirs)
    else:
        assert float(ours) == float(theirs)


def test_finfo_values_from_findings():
    """A few values written out, so the check does not rest on the library alone."""
    f = qf.finfo("fp8_e8m0fnu")
    assert (f.eps, f.epsneg, f.max, f.min) == (1.0, 0.5, 2.0**127, 2.0**-127)
    assert f.smallest_subnormal == f.smallest_normal == f.tiny == 2.0**-127
    e4 = qf.finfo(qf.fp8_e4m3fn)
    assert (e4.max, e4.min, e4.maxexp, e4.minexp) == (448, -448, 9, -6)
    assert e4.smallest_subnormal == 2**-9
    assert qf.finfo("fp8_e4m3fnuz").maxexp == 8
    tf = qf.finfo("tf32")
    assert (tf.eps, tf.max, tf.smallest_subnormal) == (2.0**-10, (2 - 2**-10) * 2.0**127, 2.0**-136)


def test_finfo_custom_format():
    f = qf.finfo(qf.FloatFormat(5, 4, bias=10))
    assert f.max == (2 - 2**-4) * 2.0 ** (30 - 10)
    assert f.smallest_normal == 2.0 ** (1 - 10)
    assert f.smallest_subnormal == 2.0 ** (1 - 10 - 4)
    assert (f.nexp, f.nmant, f.bits) == (5, 4, 10)


def test_finfo_and_iinfo_reject_the_other_kind():
    with pytest.raises(ValueError):
        qf.finfo("int8")
    with pytest.raises(ValueError):
        qf.iinfo("bf16")


@pytest.mark.parametrize("name", INT_BUILTINS)
def test_iinfo_matches_numpy(name):
    i = qf.iinfo(name)
    bits = int(name.lstrip("uint"))
    signed = not name.startswith("u")
    assert i.bits == bits
    assert (i.min, i.max) == ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed
                              else (0, (1 << bits) - 1))
    if bits >= 8:
        npi = np.iinfo(f"{'' if signed else 'u'}int{bits}")
        assert (i.min, i.max) == (npi.min, npi.max)


@pytest.mark.parametrize("name", [n for n in qf.formats()
                                  if qf.format(n).kind == "float" and qf.format(n).bits <= 16])
def test_value_of_is_the_decoding_of_every_code(name):
    """``value_of`` (the core's unpack, exposed on the native class) agrees
    with ``decode`` on every code of each float format up to 16 bits, where
    float64 holds every value exactly; NaN and ±inf where decode has them."""
    f = qf.format(name)
    codes = np.arange(1 << f.bits, dtype=np.uint32).astype(f.storage_dtype)
    decoded = qf.decode(codes, f)
    for code, d in zip(codes.tolist(), decoded.tolist()):
        v = f.value_of(code)
        if math.isnan(d):
            assert isinstance(v, float) and math.isnan(v) and f.is_nan(code), (name, code)
        else:
            assert v == d and not f.is_nan(code), (name, code, v, d)


def test_formats_are_frozen_native_objects():
    with pytest.raises(AttributeError):
        qf.bf16.bias = 3
    assert type(qf.bf16) is qf.FloatFormat and type(qf.int8) is qf.IntFormat
    assert qf.IntFormat(64).min == -(1 << 63)
    assert qf.IntFormat(64, signed=False).max == (1 << 64) - 1
