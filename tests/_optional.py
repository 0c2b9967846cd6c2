"""Optional reference libraries (torch, ml_dtypes) for the test modules.

A test module never imports them at its top: collection must work without
them. ``lazy("torch")`` stands for the module and imports it on first use,
inside a test, where a missing library skips that test only; ``resolve``
turns a ``"torch.float16"`` named in a parametrize list into the object."""

from __future__ import annotations

import importlib
from typing import Any

import pytest


class lazy:  # noqa: N801 - reads as the module it stands for
    """A module imported (or the test skipped) on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(pytest.importorskip(self._name), attr)


def resolve(path: Any) -> Any:
    """``"module.attr"`` -> the attribute (skipping when the module is
    missing); anything else is returned as it is."""
    if not isinstance(path, str) or "." not in path:
        return path
    module, _, attr = path.rpartition(".")
    if module not in ("torch", "ml_dtypes", "numpy"):
        return path
    pytest.importorskip(module)
    found = getattr(importlib.import_module(module), attr, None)
    if found is None:
        pytest.skip(f"{path} is not in the installed {module}")
    return found
