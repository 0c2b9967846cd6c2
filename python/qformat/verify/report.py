"""The JSON-ready report of a check: versions, warnings about the profile,
the per-case results."""

from __future__ import annotations

import platform

from .. import _native
from .._profiles import profile as resolve_profile
from .backends import Backend


def build_report(backend: Backend, profile: str, options: dict, exhaustive: bool, samples: int,
            seed: int, results: list, skipped: list, seconds: float) -> dict:
    mism = sum(r["mismatches"] for r in results)
    p = resolve_profile(profile)
    warnings = []
    if p.guessed:
        warnings.append(f"the installed {p.library} {p.version} is outside the releases whose "
                        f"rules qformat knows; the rules of {p.versions} stand in for it, so "
                        "mismatches may be the library's changes rather than bugs")
    if not p.verified:
        warnings.append(f"profile {p.name} has not been checked against the real library yet")
    return {
        "backend": backend.name, "device": backend.device, "profile": p.name,
        "profile_rules": f"{p.library} {p.versions}", "warnings": warnings,
        "options": options, "mode": "exhaustive" if exhaustive else "sampled",
        "samples": None if exhaustive else samples, "seed": seed,
        "versions": {"qformat": _native.__version__, "python": platform.python_version(),
                     "platform": platform.platform(), **backend.versions()},
        "inputs": sum(r["inputs"] for r in results), "mismatches": mism, "clean": mism == 0,
        "seconds": round(seconds, 2), "cases": results, "skipped": skipped,
    }
