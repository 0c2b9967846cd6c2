"""Profiles: which library release's cast rules to reproduce.

A profile is chosen once, as a native :class:`Profile` value: ``"ml_dtypes"``
means the release installed here (found through the package metadata, so
nothing is imported), or the newest known when the library is not
installed; ``"ml_dtypes@0.6"`` or ``"torch-cpu@2.11"`` name a release. The
rules themselves live in the Rust core (``policy/profile.rs``), matched on format
layouts; an option the caller gives always wins over them.
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Union

from . import _native
from ._native import Profile

__all__ = ["Profile", "profile", "profiles", "installed_versions"]

ProfileSpec = Union[str, Profile]

_PACKAGES = ("numpy", "ml_dtypes", "torch")


@functools.lru_cache(maxsize=1)
def installed_versions() -> tuple[tuple[str, str], ...]:
    """``(package, version)`` for each profiled library that is installed."""
    found = []
    for pkg in _PACKAGES:
        try:
            found.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            pass
    return tuple(found)


@functools.lru_cache(maxsize=64)
def _parse(spec: str) -> Profile:
    return Profile(spec, list(installed_versions()))


def profile(spec: ProfileSpec) -> Profile:
    """The :class:`Profile` for ``spec`` (a name such as ``"torch-cpu"`` or
    ``"ml_dtypes@0.6"``, or a Profile, returned as it is)."""
    if isinstance(spec, Profile):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"profile must be a str such as 'ieee', 'torch-cpu' or 'ml_dtypes@0.6', "
            f"not {type(spec).__name__}"
        )
    return _parse(spec)


def profiles() -> list[dict]:
    """Every profile's release ranges, one dict each: ``name``, ``library``
    (what it reproduces), ``package``, ``versions`` (e.g. "0.5–0.6",
    "2.12+"), ``checked_on`` (the exact versions compared bit for bit; empty
    where the rules come from source or documentation only), ``verified``,
    ``source``, ``installed`` (the package's installed version or None) and
    ``selected`` (True for the release that the bare name picks here)."""
    installed = dict(installed_versions())
    rows = []
    for row in _native.profile_table():
        row = dict(row)
        row["installed"] = installed.get(row["package"]) if row["package"] else None
        chosen = profile(row["name"])
        row["selected"] = chosen.versions == row["versions"]
        rows.append(row)
    return rows
