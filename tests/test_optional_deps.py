"""The suite collects without the optional reference libraries, and the
tests that do not need them still run: torch, ml_dtypes and safetensors are
hidden from a fresh interpreter, which collects the whole suite and runs the
checkpoint module's .npz/.npy test."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_HIDDEN = textwrap.dedent("""
    import sys
    import pytest

    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "ml_dtypes", "safetensors", "torchao"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    sys.exit(pytest.main(sys.argv[1:]))
""")


def _pytest_without_references(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _HIDDEN, "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_the_suite_collects_without_torch_ml_dtypes_and_safetensors():
    r = _pytest_without_references("--collect-only", "-q", "tests")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "error" not in r.stdout.lower().splitlines()[-1]


def test_npz_checkpoints_are_tested_without_safetensors():
    r = _pytest_without_references("-q", "-rs", "tests/test_checkpoint.py::test_npz_and_npy")
    assert r.returncode == 0 and "1 passed" in r.stdout and "skipped" not in r.stdout, (
        r.stdout[-3000:] + r.stderr[-3000:])
