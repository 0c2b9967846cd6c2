"""Every row of ``benches/bench_limits.py`` runs: the bench on 2^17 values
(4,096 rows of 32, the least the MX rows take), one repeat, one thread, no
scaling table. A row whose call the API refuses
(as the MX-mode rows once did: the mxfp8 recipe fixes its rounding) would
otherwise only show when someone runs the bench on a quiet machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("ml_dtypes")

BENCH = Path(__file__).resolve().parents[1] / "benches" / "bench_limits.py"


def test_every_bench_row_runs_on_a_small_array():
    env = {k: v for k, v in os.environ.items() if k != "CPFLOAT_LIB"}
    run = subprocess.run(
        [sys.executable, str(BENCH), "--log2n", "17", "--repeat", "1", "--threads", "1",
         "--scaling", ""],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    out = run.stdout
    for row in ("encode bf16 out=u16", "2^17: encode bf16 out=u16",
                "encode bf16, 16 elements (fixed cost)", "allocating encode fp8_e4m3fn",
                "allocating round bf16 (f32 out)", "fake_quantize int8 per-tensor stochastic",
                "fake_quantize mxfp8 (groups of 32) stochastic",
                "fake_quantize mxfp4 (groups of 32) toward_zero",
                "fake_quantize fp8_e4m3fn float64 (2^-2 size) stochastic"):
        assert row in out, out
