"""The real console script in a subprocess: explain, decode, formats and
memory, and exit status 2 with one line on stderr for user mistakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

QFORMAT = shutil.which("qformat")
RUNNERS = [pytest.param([sys.executable, "-m", "qformat"], id="python-m")]
if QFORMAT:
    RUNNERS.insert(0, pytest.param([QFORMAT], id="console-script"))


def run(runner, *args, ok=True):
    p = subprocess.run([*runner, *args], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def test_console_script_is_installed():
    assert QFORMAT is not None, "pip install -e . installs the qformat console script"


@pytest.mark.parametrize("runner", RUNNERS)
def test_help_and_explain(runner):
    assert "explain" in run(runner, "--help").stdout
    out = run(runner, "explain", "3.14159265358979", "fp32", "bf16", "fp8_e4m3fn").stdout
    for needle in ("3.1415927410125732421875", "3.140625", "3.25", "0x40490fdb", "0x4049",
                   "0x45", "exact?", "no"):
        assert needle in out


@pytest.mark.parametrize("runner", RUNNERS)
def test_explain_json(runner):
    out = run(runner, "explain", "-1.1e49", "fp32", "fp16", "--json").stdout
    data = json.loads(out)
    assert [d["format"] for d in data] == ["fp32", "fp16"]
    assert data[0]["decimal"] == "-inf" and data[0]["overflow"] is True
    assert data[0]["hex"] == "0xff800000"
    exact = json.loads(run(runner, "explain", "0.5", "fp32", "--json").stdout)[0]
    assert exact["exact"] is True and exact["value"] == "1/2"
    rounded = run(runner, "explain", "1.001", "bf16", "--rounding", "up", "--json").stdout
    assert json.loads(rounded)[0]["hex"] == "0x3f81"


@pytest.mark.parametrize("runner", RUNNERS)
def test_decode(runner):
    out = run(runner, "decode", "0x40490fdb", "fp32").stdout
    assert "3.1415927410125732421875" in out and "10010010000111111011011" in out
    data = json.loads(run(runner, "decode", "0b0_1111_110", "e4m3fn", "--json").stdout)
    assert data["value"] == "448" and data["category"] == "normal"
    assert json.loads(run(runner, "decode", "0x7f", "e4m3fn", "--json").stdout)["category"] == "nan"


@pytest.mark.parametrize("runner", RUNNERS)
def test_formats(runner):
    out = run(runner, "formats").stdout
    for needle in ("fp8_e4m3fn", "448", "65504", "bf16", "int4", "57344"):
        assert needle in out
    rows = {r["format"]: r for r in json.loads(run(runner, "formats", "--json").stdout)}
    assert rows["fp16"]["max"] == "65504" and rows["fp16"]["smallest_subnormal"] == "6e-08"
    assert rows["fp8_e4m3fn"]["inf"] == "no" and rows["fp32"]["bias"] == 127
    assert rows["int8"]["max"] == "127" and rows["int8"]["min"] == "-128"


@pytest.mark.parametrize("runner", RUNNERS)
def test_memory_7b(runner):
    data = json.loads(run(runner, "memory", "7B", "--json").stdout)
    gb = {r["format"]: r["weights_GB"] for r in data["formats"]}
    assert gb["fp32"] == 28 and gb["bf16"] == 14 and gb["int8"] == 7 and gb["int4"] == 3.5
    gib = {r["format"]: r["weights_GiB"] for r in data["formats"]}
    assert abs(gib["fp32"] - 28e9 / 2**30) < 1e-9
    train = json.loads(run(runner, "memory", "7B", "--training", "-f", "fp32", "--json").stdout)
    assert train["formats"][0]["training_GB"] == 112
    out = run(runner, "memory", "7e9", "--format", "int4").stdout
    assert "3.5" in out and "int4" in out
    assert json.loads(run(runner, "memory", "125M", "--json").stdout)["params"] == 125e6


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("args,needle", [
    (("explain", "1_000", "fp32"), "separators"),
    (("explain", "1.0", "fp33"), "unknown format"),
    (("explain", "nan", "int8"), "no NaN"),
    (("explain", "1.0", "fp32", "--rounding", "sideways"), "unknown rounding"),
    (("explain", "1.0", "bf16", "--rounding", "stochastic"), "seed"),
    (("decode", "40490fdb", "fp32"), "cannot read bits"),
    (("decode", "0x1ff", "e4m3fn"), "does not fit"),
    (("decode", "0xzz", "fp32"), "cannot read bits"),
    (("memory", "7Q"), "parameter count"),
    (("memory", "7B", "-f", "fp99"), "unknown format"),
])
def test_mistakes_exit_2_with_one_line(runner, args, needle):
    p = run(runner, *args, ok=False)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr


def test_negative_values_are_not_options():
    runner = [sys.executable, "-m", "qformat"]
    data = json.loads(run(runner, "explain", "-inf", "fp16", "--json").stdout)
    assert data[0]["hex"] == "0xfc00"
    data = json.loads(run(runner, "explain", "-0x1p-24", "fp16", "--json").stdout)
    assert data[0]["hex"] == "0x8001" and data[0]["exact"] is True
