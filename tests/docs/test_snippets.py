"""Every code block of README.md and docs/**/*.md runs (see :mod:`tests.docs._snippets`)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from tests.docs._snippets import Snippet, extract, run_snippet

ROOT = Path(__file__).resolve().parents[2]
#: The README has at least this many blocks that run (so the harness cannot silently
#: find none).
README_MIN_RUNNABLE = 5


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _snippets() -> list[Snippet]:
    found: list[Snippet] = []
    for path in _documents():
        found += extract(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    return [s for s in found if s.runnable]


def _once(snippets: list[Snippet]) -> list[Snippet]:
    """The snippets, a block whose code an earlier one already has (a guide repeating a
    README example) marked skipped: running the same program twice proves nothing more."""
    first: dict[tuple[str, str], Snippet] = {}
    out: list[Snippet] = []
    for snippet in snippets:
        earlier = first.setdefault((snippet.lang, snippet.code), snippet)
        if earlier is not snippet and snippet.skip is None:
            snippet = attrs.evolve(snippet, skip=f"the same code as {earlier.id}, run there")
        out.append(snippet)
    return out


def _check(snippet: Snippet, tmp_path: Path, env: dict[str, str]) -> None:
    done = run_snippet(snippet, tmp_path, env)
    assert done.returncode == 0, (
        f"{snippet.id} ({snippet.lang}) exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("snippet", _once(_snippets()), ids=lambda s: s.id)
def test_snippet_runs(snippet: Snippet, tmp_path: Path, snippet_env: dict[str, str]) -> None:
    if snippet.skip is not None:
        pytest.skip(snippet.skip)
    _check(snippet, tmp_path, snippet_env)


def test_readme_has_runnable_blocks() -> None:
    readme = [s for s in _snippets() if s.path == "README.md" and s.skip is None]
    assert len(readme) >= README_MIN_RUNNABLE, [s.id for s in readme]


def test_the_docs_pages_have_runnable_blocks() -> None:
    assert any(s.path.startswith("docs/") for s in _snippets())


SYNTHETIC = """\
# A page

Text.

```python
raise SystemExit(1)
```

```sh
false
```

<!-- snippet: skip cannot run here -->
```python
raise SystemExit(1)
```

```text
not run
```

    ```python
    print("indented, in a list")
    ```
"""


def test_a_repeated_block_runs_once() -> None:
    page = "```python\nprint(1)\n```\n\n```python\nprint(1)\n```\n"
    first, second = _once(extract(page, "p.md"))
    assert (first.skip, second.skip) == (None, "the same code as p.md:1, run there")


def test_extract_reads_languages_lines_and_skips() -> None:
    found = extract(SYNTHETIC, "page.md")
    assert [(s.id, s.lang, s.skip) for s in found] == [
        ("page.md:5", "python", None),
        ("page.md:9", "sh", None),
        ("page.md:14", "python", "cannot run here"),
        ("page.md:18", "text", None),
        ("page.md:22", "python", None),
    ]
    assert found[4].code == 'print("indented, in a list")\n'
    assert [s.runnable for s in found] == [True, True, True, False, True]


@pytest.mark.parametrize("index", [0, 1])
def test_a_failing_snippet_fails(index: int, tmp_path: Path, snippet_env: dict[str, str]) -> None:
    snippet = extract(SYNTHETIC, "page.md")[index]
    with pytest.raises(AssertionError, match=r"page\.md:\d+ \(\w+\) exited 1"):
        _check(snippet, tmp_path, snippet_env)


def test_a_snippet_sees_the_emulators_and_the_cli(
    tmp_path: Path, snippet_env: dict[str, str]
) -> None:
    script = 'test -n "$NANOGPT_BASE_URL" && prism-async --help >/dev/null && ls lamp.png'
    code = f"```sh\n{script}\n```\n"
    _check(extract(code, "x.md")[0], tmp_path, snippet_env)
