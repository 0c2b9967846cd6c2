"""The inputs of a check: sampled inputs that cover every class of value
(then random fill), exhaustive sweeps, and the plan of cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from .._convert import decode
from .._formats import FloatFormat, Format, IntFormat, format
from .._limits import finfo
from .backends import SOURCE_FORMAT, Backend, VerifyError, source_dtype, word_dtype

CHUNK_BITS = 24              # 2^24 inputs per chunk: ~170 MB of buffers at most


# ---------------------------------------------------------------------------
# sampled inputs: every class, then random fill


def _target_values(fmt: FloatFormat) -> np.ndarray:
    """Every finite non-negative value of a <=16-bit float format, increasing."""
    codes = np.arange(1 << fmt.bits, dtype=np.uint32).astype(fmt.storage_dtype)
    v = decode(codes, fmt)
    return np.unique(np.abs(v[np.isfinite(v)]))


def _neighbours(x: np.ndarray, dtype: np.dtype, steps: int) -> list:
    """``x`` (cast to ``dtype``) and its ``steps`` neighbours on each side."""
    b = x.astype(dtype)
    out, up, down = [b], b, b
    for _ in range(steps):
        up = np.nextafter(up, dtype.type(np.inf))
        down = np.nextafter(down, dtype.type(-np.inf))
        out += [up, down]
    return out


def _float_pools(fmt: FloatFormat, dt: np.dtype, rng: np.random.Generator) -> dict:
    """Inputs of source dtype ``dt`` by class, for a float target."""
    v = _target_values(fmt)
    vmax = v[-1]
    nxt = vmax + (vmax - v[-2]) if fmt.man_bits else 2 * vmax
    grid = np.append(v, nxt)
    ties = (grid[:-1] + grid[1:]) / 2                       # exact in float64
    if fmt.man_bits == 0:                                   # power-of-two scale: 1.5 * 2^k
        ties = grid[:-1] * 1.5
    near = _neighbours(ties, dt, 2)
    if dt == np.float64:
        near += [n.astype(np.float64) for n in _neighbours(ties, np.dtype(np.float32), 1)]
    tiny = finfo(fmt).smallest_normal
    sub = np.concatenate([v[v < tiny], ties[ties < tiny], tiny * rng.random(512),
                          np.exp2(rng.uniform(-160, np.log2(tiny), 512))])
    src_sub = rng.integers(1, 1 << 23, 256, dtype=np.uint32).view(np.float32)
    top = max(np.log2(vmax) + 1, 1023.9 if dt == np.float64 else 127.99)
    over = np.concatenate(_neighbours(np.array([vmax, (vmax + nxt) / 2, nxt, 2 * vmax]), dt, 3)
                          + [np.exp2(rng.uniform(np.log2(vmax), top, 256))])
    over = np.concatenate([over.astype(np.float64), [np.finfo(dt).max, np.inf]])
    pools = {
        "values": v, "ties": ties, "near_ties": np.concatenate(near).astype(np.float64),
        "subnormals": np.concatenate([sub, src_sub.astype(np.float64)]),
        "overflow": over,
        "in_range": np.exp2(rng.uniform(np.log2(v[1]), np.log2(vmax), 4096)),
    }
    return {k: _signed(p.astype(dt)) for k, p in pools.items()}


def _int_pools(fmt: IntFormat, dt: np.dtype, rng: np.random.Generator) -> dict:
    """Inputs around every integer-cast boundary: the target's limits, the
    int32 trip (2^31) that torch/NumPy take, ties k + 0.5 and neighbours."""
    lo, hi = fmt.min, fmt.max
    ks = np.array([0, 1, 2, 3, lo, hi, lo - 1, hi + 1, lo + 1, hi - 1, 2**7, 2**8, 2**15,
                   2**16, 2**24, 2**31, 2**32, 2**53, 2**63], dtype=np.float64)
    ks = np.concatenate([ks, -ks])
    halves = np.concatenate([ks + 0.5, ks - 0.5, ks + 0.25, ks - 0.75])
    bound = np.concatenate(_neighbours(np.concatenate([ks, halves]), dt, 2))
    span = float(hi - lo)
    ties = np.floor(rng.uniform(lo - 4, hi + 4, 4096)) + 0.5
    return {
        "int_boundaries": bound.astype(dt),
        "int_ties": ties.astype(dt),
        "in_range": rng.uniform(lo - 0.1 * span, hi + 0.1 * span, 4096).astype(dt),
        "large": _signed(np.exp2(rng.uniform(0, 70, 2048)).astype(dt)),
    }


def _signed(x: np.ndarray) -> np.ndarray:
    """``x`` with both signs."""
    return np.concatenate([x, -x])


def _special_pool(dt: np.dtype, rng: np.random.Generator) -> dict:
    """NaNs with random payloads and both signs, signed zeros, infinities and
    raw random bit patterns of the source."""
    if dt == np.float64:
        pay = rng.integers(1, 1 << 52, 2048, dtype=np.uint64)
        fixed = np.array([1, 1 << 51, (1 << 52) - 1, 0x8000000000000, 0x2468AC0000000],
                         dtype=np.uint64)
        pay = np.concatenate([pay, fixed])
        nan = (pay | np.uint64(0x7FF0000000000000)).view(np.float64)
        raw = rng.integers(0, 2**63, 4096, dtype=np.uint64)
        raw = (raw | (rng.integers(0, 2, 4096, dtype=np.uint64) << np.uint64(63))).view(dt)
    else:
        pay = rng.integers(1, 1 << 23, 2048, dtype=np.uint32)
        fixed = np.array([1, 1 << 22, (1 << 23) - 1, 0x200000, 0x523456, 0x2000, 0x1FFF],
                         dtype=np.uint32)
        nan = (np.concatenate([pay, fixed]) | np.uint32(0x7F800000)).view(np.float32)
        raw = rng.integers(0, 1 << 32, 4096, dtype=np.uint64).astype(np.uint32).view(np.float32)
    zeros = np.array([0.0, -0.0, np.inf, -np.inf], dtype=dt)
    return {"nan": np.concatenate([nan, -nan]).astype(dt), "zeros_inf": zeros,
            "random_bits": raw.astype(dt)}


def sample_inputs(fmt: Format, source: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` inputs (rounded up to a multiple of 64, so torch's vector blocks
    are always full) of ``source`` for casts into ``fmt``: every class of
    input is drawn (values, exact ties, near ties, subnormals, the overflow
    boundary, NaN payloads, signed zeros, infinities, int-cast boundaries),
    an equal share each, the rest raw random bit patterns. Deterministic."""
    dt = source_dtype(source)
    if dt.itemsize < 4:
        raise VerifyError("sampled inputs are drawn for f32 and f64 sources")
    rng = np.random.default_rng([seed, fmt.bits, len(fmt.name)])
    n = max(64, -(-n // 64) * 64)
    with np.errstate(over="ignore", invalid="ignore"):    # inf from beyond-range casts is wanted
        if isinstance(fmt, IntFormat):
            pools = _int_pools(fmt, dt, rng)
        else:
            assert isinstance(fmt, FloatFormat)
            pools = _float_pools(fmt, dt, rng)
        pools.update(_special_pool(dt, rng))
    share = n // (len(pools) + 1)
    parts = []
    for p in pools.values():
        parts.append(p if p.size <= share else rng.choice(p, share, replace=False))
    x = np.concatenate(parts)[:n]
    fill = n - x.size
    if fill:
        wide = 1 << (8 * dt.itemsize)
        raw = rng.integers(0, min(wide, 1 << 63), fill, dtype=np.uint64)
        if dt == np.float64:
            raw |= rng.integers(0, 2, fill, dtype=np.uint64) << np.uint64(63)
        x = np.concatenate([x, raw.astype(word_dtype(dt)).view(dt)])
    rng.shuffle(x)
    return np.ascontiguousarray(x)


def _int_codes_sample(fmt: IntFormat, n: int, seed: int) -> np.ndarray:
    """int32 -> float32 inputs: ties and neighbours of every power of two from
    2^24 up (where float32 stops being exact), the limits, random values."""
    rng = np.random.default_rng([seed, 32])
    ks = []
    for e in range(24, 31):
        base = np.int64(1) << e
        step = np.int64(1) << (e - 23)
        off = np.arange(-4, 5, dtype=np.int64)
        mids = base + step * rng.integers(0, 1 << 23, 64) + step // 2
        ks += [base + off, mids, mids + 1, mids - 1, -(base + off), -mids]
    ks.append(np.array([fmt.min, fmt.max, fmt.min + 1, fmt.max - 1, 0, 1, -1], dtype=np.int64))
    x = np.concatenate(ks)
    fill = max(0, n - x.size)
    x = np.concatenate([x, rng.integers(fmt.min, fmt.max, fill, endpoint=True)])
    return np.clip(x, fmt.min, fmt.max).astype(fmt.storage_dtype)


# ---------------------------------------------------------------------------
# cases


@dataclass
class Case:
    """One format in one direction, with a factory for its input chunks."""

    fmt: Format
    direction: str                 # "f32->X", "f64->X", "f16->X", "bf16->X", "X->f32"
    total: int
    chunks: Callable[[], Iterator[np.ndarray]]
    chunk: int

    @property
    def label(self) -> str:
        return f"{self.fmt.name} {self.direction.replace('X', self.fmt.name)}"


def exhaustive_f32(chunk: int) -> Callable[[], Iterator[np.ndarray]]:
    """Every float32 pattern, ``chunk`` at a time, in one reused buffer."""
    def gen() -> Iterator[np.ndarray]:
        base = np.arange(chunk, dtype=np.uint32)
        buf = np.empty(chunk, np.uint32)
        for start in range(0, 1 << 32, chunk):
            np.add(base, np.uint32(start), out=buf)
            yield buf.view(np.float32)
    return gen


def exhaustive_int32(chunk: int) -> Callable[[], Iterator[np.ndarray]]:
    """Every int32 value, ``chunk`` at a time."""
    gen = exhaustive_f32(chunk)

    def ints() -> Iterator[np.ndarray]:
        for c in gen():
            yield c.view(np.int32)
    return ints


def chunked(x: np.ndarray, chunk: int) -> Callable[[], Iterator[np.ndarray]]:
    def gen() -> Iterator[np.ndarray]:
        for i in range(0, x.size, chunk):
            yield x[i:i + chunk]
    return gen


def all_codes(fmt: Format, source_dtype: Optional[np.dtype] = None) -> np.ndarray:
    """Every code of a <=16-bit format (integers: every value)."""
    if isinstance(fmt, IntFormat):
        return np.arange(fmt.min, fmt.max + 1, dtype=np.int64).astype(fmt.storage_dtype)
    codes = np.arange(1 << fmt.bits, dtype=np.uint32).astype(fmt.storage_dtype)
    return codes if source_dtype is None else codes.view(source_dtype)


def plan(backend: Backend, formats: list, *, exhaustive: bool = False, samples: int = 100_000,
         sources: Optional[list] = None, decode_check: bool = True, seed: int = 0,
         chunk_bits: int = CHUNK_BITS) -> tuple:
    """The cases to run and the ones skipped (with the reason)."""
    chunk = 1 << chunk_bits
    cases, skipped = [], []
    for name in formats:
        fmt = format(name)
        if fmt.name not in backend.formats():
            raise VerifyError(f"{backend.name} has no cast to {fmt.name}; it checks "
                              f"{', '.join(backend.formats())}")
        for src in sources or backend.sources(fmt):
            if src not in backend.sources(fmt):
                skipped.append({"format": fmt.name, "direction": f"{src}->X",
                                "reason": f"{backend.name} has no {src} -> {fmt.name} cast"})
                continue
            cases.append(_encode_case(fmt, src, exhaustive, samples, seed, chunk))
        if decode_check:
            cases.append(_decode_case(fmt, exhaustive, samples, seed, chunk))
    return cases, skipped


def _encode_case(fmt: Format, src: str, exhaustive: bool, samples: int, seed: int,
                 chunk: int) -> Case:
    if src in ("f16", "bf16"):
        x = all_codes(format(SOURCE_FORMAT[src]), source_dtype(src))
        return Case(fmt, f"{src}->X", x.size, chunked(x, chunk), chunk)
    if src == "f32" and exhaustive:
        return Case(fmt, "f32->X", 1 << 32, exhaustive_f32(chunk), chunk)
    x = sample_inputs(fmt, src, samples, seed)
    return Case(fmt, f"{src}->X", x.size, chunked(x, chunk), chunk)


def _decode_case(fmt: Format, exhaustive: bool, samples: int, seed: int, chunk: int) -> Case:
    if isinstance(fmt, IntFormat) and fmt.bits == 32:
        if exhaustive:
            return Case(fmt, "X->f32", 1 << 32, exhaustive_int32(chunk), chunk)
        x = _int_codes_sample(fmt, samples, seed)
    else:
        x = all_codes(fmt)
    return Case(fmt, "X->f32", x.size, chunked(x, chunk), chunk)


