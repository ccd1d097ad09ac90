"""The distributions as built: the sdist and the wheel carry the examples, the license and
the project URLs, and a wheel installed alone gives `prism-async --version` and
`prism-async examples DIR` (the README's batch file, for a pip user)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("hatchling")  # the build backend (a test dependency, see noxfile.py)

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_file())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    code = (
        "import json, sys, hatchling.build as b; "
        "print(json.dumps([b.build_sdist(sys.argv[1]), b.build_wheel(sys.argv[1])]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    sdist, wheel = json.loads(done.stdout.splitlines()[-1])
    return out / sdist, out / wheel


def test_the_sdist_carries_the_examples_and_the_license(built: tuple[Path, Path]) -> None:
    sdist, _ = built
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"examples/{name}" for name in EXAMPLES} <= names
    assert {"LICENSE", "pyproject.toml", "README.md"} <= names


def test_the_wheel_carries_the_examples_license_and_urls(built: tuple[Path, Path]) -> None:
    _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
    assert {f"prism_async/_examples/{name}" for name in EXAMPLES} <= names
    assert not any(name.startswith("examples/") for name in names)  # not a top-level package
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "License-Expression: MIT" in metadata
    urls = dict(
        line.removeprefix("Project-URL: ").split(", ", 1)
        for line in metadata.splitlines()
        if line.startswith("Project-URL: ")
    )
    assert set(urls) == {"Homepage", "Documentation", "Source", "Changelog"}
    assert all(
        url.startswith("https://github.com/prism-async/prism-async") for url in urls.values()
    )


def test_an_installed_wheel_reports_its_version_and_copies_the_examples_out(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    _, wheel = built
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target)}  # the wheel's code, not the source tree
    cwd = tmp_path  # not the source tree either

    def cli(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "prism_async", *argv],
            env=env, cwd=cwd, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    assert cli("--version") == f"prism-async {version.group(1)}\n"
    cli("examples", "copied")
    assert sorted(p.name for p in (tmp_path / "copied").iterdir()) == EXAMPLES
    located = subprocess.run(
        [sys.executable, "-c", "import prism_async; print(prism_async.__file__)"],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert located.startswith(str(target))
