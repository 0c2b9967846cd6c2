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


def rotated_rounds_ms(fns: list[Callable[[], object]], rounds: int) -> list[list[float]]:
    """Each of ``fns`` called once per round, the order rotated by one each
    round (after one warm-up call each), so that no function always follows
    the same one: what an allocating call pays depends on what the process
    freed just before. Returns every call's time in ms, by function."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        for k in range(len(fns)):
            i = (r + k) % len(fns)
            t = time.perf_counter()
            fns[i]()
            times[i].append((time.perf_counter() - t) * 1e3)
    return times
