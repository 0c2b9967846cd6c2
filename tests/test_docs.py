"""The documentation is tested like code: every example on every page runs,
shown outputs are checked, every public name is in the API reference with
a docstring, and nothing points outside the repository.

A page's ```python blocks and ```pycon blocks (``>>>`` lines with their
outputs, checked by doctest) run in order in one namespace per page, so a
page reads as one session. Other fences (```text, ```bash) are not run."""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path

import pytest
import qformat as qf

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(python|pycon)\n(.*?)^```", re.S | re.M)


def run_page(text: str, name: str) -> dict:
    """Run the page's examples in one namespace; raise on the first failure."""
    scope: dict = {"__name__": f"docs:{name}"}
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    for i, m in enumerate(FENCE.finditer(text)):
        kind, code = m.groups()
        if kind == "python":
            exec(compile(code, f"{name} block {i}", "exec"), scope)  # noqa: S102
            continue
        test = parser.get_doctest(code, scope, f"{name} block {i}", name, 0)
        out: list = []
        result = runner.run(test, out=out.append, clear_globs=False)
        assert result.failed == 0, "".join(out)
    return scope


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_example_of_the_page_runs(page):
    scope = run_page(page.read_text(), str(page.relative_to(ROOT)))
    if page == ROOT / "README.md":   # the README's recipes use its x and w
        q = scope["q"]
        assert q.axis == scope["w"].ndim - 1 and q.group_size == 128


def test_pages_with_examples_have_checked_outputs():
    """The topic pages show results, and those are compared (a ```pycon
    block with no expected output would check nothing)."""
    for name in ("index.md", "formats.md", "conversion.md", "quantization.md"):
        text = (ROOT / "docs" / name).read_text()
        blocks = [c for k, c in FENCE.findall(text) if k == "pycon"]
        assert blocks and all(re.search(r"^(?!>>>|\.\.\.)\S", c, re.M) for c in blocks), name


def test_a_wrong_shown_output_fails():
    """The runner can fail: an output that differs from the result is reported."""
    page = "```python\nimport qformat as qf\n```\n\n```pycon\n>>> qf.fp16.bits\n8\n```\n"
    with pytest.raises(AssertionError, match="Expected"):
        run_page(page, "wrong.md")


def test_every_public_name_is_in_the_reference_with_a_docstring():
    reference = (ROOT / "docs" / "reference.md").read_text()
    listed = set(re.findall(r"^::: qformat\.(\w+)$", reference, re.M))
    assert listed == set(qf.__all__)
    for name in qf.__all__:
        assert (inspect.getdoc(getattr(qf, name)) or "").strip(), f"qf.{name} has no docstring"


def test_every_topic_page_is_in_the_site():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        rel = page.relative_to(ROOT / "docs").as_posix()
        assert rel in nav or rel.startswith("verification/reports/"), rel


def test_nothing_points_outside_the_repository():
    files = PAGES + list((ROOT / "python").rglob("*.py")) + list((ROOT / "python").rglob("*.pyi"))
    for path in files:
        text = path.read_text()
        assert "API.md" not in text and "api-additions" not in text, path
