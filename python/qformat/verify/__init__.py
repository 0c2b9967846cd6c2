"""Bit-for-bit cross-checks of qformat's casts against torch (CPU/CUDA), NumPy
and ml_dtypes: the library behind ``qformat verify``.

A *case* is one format and one direction: ``f32->X`` (every float32 pattern
when exhaustive), ``f64->X`` (always sampled), ``f16->X`` / ``bf16->X``
(every 16-bit pattern) and ``X->f32`` (every code of X; for integer formats
the int -> float32 rounding). Each chunk of inputs goes through
``qf.encode(x, fmt, profile=...)`` and through the backend, the two word
arrays are compared with one vectorised ``!=``, and only the mismatching
elements are classified (NaN bits, signed zero, subnormal flush, rounding
direction, overflow rule, int out-of-range, other), counted, and the first
examples kept. Buffers are reused, so memory is bounded by the chunk size.

Decoding (``X->f32``): qformat's decode widens NaN bits bit for bit, and no
profile describes how a backend widens NaNs, so a difference *only* in the
bits of a NaN (both sides NaN) is reported under ``tolerated`` and does not
fail the check; every other difference does.
"""

from .backends import BACKENDS, SOURCES, VerifyError, backend_for, default_profile
from .check import verify
from .classify import CLASSES
from .cpu import verify_cpu
from .sampling import plan, sample_inputs

__all__ = ["BACKENDS", "SOURCES", "CLASSES", "VerifyError", "plan", "verify", "verify_cpu",
           "sample_inputs", "backend_for", "default_profile"]
