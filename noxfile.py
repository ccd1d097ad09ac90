"""Sessions: tests (every installed CPython 3.10-3.14), lint, typecheck, docs, bench."""

from __future__ import annotations

import os
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]

# Interpreters installed with pyenv but not activated are not on PATH, so nox would skip
# them: put each installed 3.10-3.14 on PATH so that every installed version is tested.
_PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
for _bin in sorted(_PYENV.glob("3.1[0-4].*/bin")):
    if (_bin / "python3").exists():
        os.environ["PATH"] = f"{_bin}{os.pathsep}{os.environ.get('PATH', '')}"

nox.options.sessions = ["tests", "lint", "typecheck"]
# Run on whichever of the supported interpreters are installed; CI sets CI=true, which
# would otherwise turn a missing interpreter into a failure.
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True

# uvicorn and starlette: a real ASGI server and framework for the webhook receiver's ASGI
# application and the README's Starlette example.
TEST_DEPS = [
    "pytest>=8",
    "hypothesis>=6.100",
    "pytest-timeout>=2.3",
    "uvicorn>=0.30",
    "starlette>=0.37",
    "hatchling>=1.27",  # tests/test_packaging.py builds the sdist and the wheel
    "opentelemetry-sdk>=1.20",  # tests/unit/test_telemetry.py: the in-memory span exporter
]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite against the built-in emulators over loopback (and a throwaway
    PostgreSQL server: Debian's postgresql package; without it those tests skip, or fail
    when CI is set)."""
    session.install(".[cli,postgres]", *TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, its tests, the benchmarks and the examples."""
    session.install(".[cli,postgres]", "mypy>=1.10", "syncsdk", *TEST_DEPS)
    # Paths on the command line: [tool.mypy] packages would check prism_async alone.
    session.run("mypy", "--strict", "prism_async", "tests", "benchmarks", "examples")


# The documentation site: mkdocs with the Material theme, and mkdocstrings for the API
# reference (read from the source by griffe, so the package need not be installed; ruff
# formats the signatures it shows).
DOCS_DEPS = [
    "mkdocs>=1.6",
    "mkdocs-material>=9.5",
    "mkdocstrings[python]>=0.26",
    "ruff>=0.6",
]


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site (guides and API reference) into site/, warnings as
    errors. Its code blocks are run by the tests (tests/docs/)."""
    session.install(*DOCS_DEPS)
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmark suite: the client's CPU, memory, loop lag, detection lag and import
    time, and items/s of one and three workers sharing a PostgreSQL journal, measured and
    printed, never asserted (``nox -s bench -- --full``; default ``--quick``;
    ``--only cpu,sdk,memory,lag,import,webhooks,workers``). See benchmarks/README.md."""
    # syncsdk: the official lipsync SDK, which table 2 compares with. postgres (asyncpg)
    # and pytest: table 7's PostgresJournal and the tests' throwaway PostgreSQL server
    # (tests/_postgres.py; Debian's postgresql package, else the table is skipped).
    session.install(".[cli,postgres]", "syncsdk", "pytest>=8")
    session.run("python", "-m", "benchmarks", *(session.posargs or ["--quick"]))
