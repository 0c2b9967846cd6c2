"""Timing shared by the benchmark scripts (run as ``python benches/x.py``,
so this folder is on the import path)."""

from __future__ import annotations

import time
from typing import Callable


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """The best of ``repeat`` timed calls of ``fn`` in milliseconds, after one
    warm-up call (allocations, thread pools)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3
