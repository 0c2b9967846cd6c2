"""``decode`` reads bit patterns from any integer array: patterns outside
the format are a ValueError, and an unsigned word no wider than the format
(uint16 for bf16 or fp16, uint8 for fp8), which holds nothing else, is
decoded without a range pass over it."""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf


@pytest.mark.parametrize(
    ("codes", "fmt"),
    [
        (np.array([0, 256], np.uint16), "fp8_e4m3fn"),  # wider word than the format
        (np.array([1 << 16], np.uint32), "bf16"),
        (np.array([-1], np.int16), "bf16"),  # signed words are checked too
        (np.array([-1], np.int8), "fp8_e4m3fn"),
        (np.array([64], np.uint8), "fp6_e3m2fn"),  # a format narrower than its word
    ],
)
def test_patterns_outside_the_format_are_rejected(codes: np.ndarray, fmt: str) -> None:
    with pytest.raises(ValueError, match="bit patterns"):
        qf.decode(codes, fmt, dtype=np.float32)


def test_every_bf16_word_decodes_to_its_float32_shift() -> None:
    """bf16 is the top half of float32: every uint16 word, NaN payloads
    included, decodes to ``word << 16`` (into a fresh and a given array)."""
    words = np.arange(1 << 16, dtype=np.uint16)
    want = words.astype(np.uint32) << 16
    assert np.array_equal(qf.decode(words, "bf16", dtype=np.float32).view(np.uint32), want)
    out = np.empty(words.size, np.float32)
    qf.decode(words, "bf16", dtype=np.float32, out=out)
    assert np.array_equal(out.view(np.uint32), want)


def test_every_fp8_word_decodes_like_wider_words() -> None:
    """uint8 words (no range pass) and the same patterns in uint32 words
    (range-checked) decode to the same values."""
    words = np.arange(256, dtype=np.uint8)
    narrow = qf.decode(words, "fp8_e5m2", dtype=np.float32)
    wide = qf.decode(words.astype(np.uint32), "fp8_e5m2", dtype=np.float32)
    assert np.array_equal(narrow.view(np.uint32), wide.view(np.uint32))
