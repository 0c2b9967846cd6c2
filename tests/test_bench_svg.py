"""The hand-written SVG line chart of ``benches/_svg.py`` (the thread-scaling
figure of docs/performance.md): valid SVG, one line per case, points where
the numbers put them."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benches"))
import _svg  # noqa: E402

NS = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("v,top", [(0.3, 0.5), (1.0, 1.0), (2.3, 2.5), (3.02, 5.0), (7, 10),
                                   (11, 20), (0, 1.0)])
def test_nice_top(v, top):
    assert _svg.nice_top(v) == pytest.approx(top)


def test_line_chart_places_each_point():
    series = {"memcpy": [2.5, 2.5], "encode bf16": [1.63, 3.02], "a<b & c": [0.5, 1.0]}
    root = ET.fromstring(_svg.line_chart("t", "threads", "Gelem/s", [1, 2], series))
    lines = root.findall(f"{NS}polyline")
    assert len(lines) == 3
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "a<b & c" in texts and "threads" in texts and "Gelem/s" in texts
    top = 5.0  # the round number above the largest value, 3.02
    ph = _svg.HEIGHT - _svg.TOP - _svg.BOTTOM
    pts = [tuple(map(float, p.split(","))) for p in lines[1].get("points").split()]
    assert pts[0] == pytest.approx((_svg.LEFT, _svg.TOP + ph * (1 - 1.63 / top)), abs=0.06)
    assert pts[1] == pytest.approx((_svg.WIDTH - _svg.RIGHT, _svg.TOP + ph * (1 - 3.02 / top)),
                                   abs=0.06)
    assert len({line.get("stroke") for line in lines}) == 3


def test_one_thread_count_is_centred():
    root = ET.fromstring(_svg.line_chart("t", "x", "y", [4], {"a": [1.0]}))
    (pt,) = root.find(f"{NS}polyline").get("points").split()
    x = float(pt.split(",")[0])
    assert x == pytest.approx(_svg.LEFT + (_svg.WIDTH - _svg.LEFT - _svg.RIGHT) / 2, abs=0.06)
