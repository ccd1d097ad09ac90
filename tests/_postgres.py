"""A throwaway PostgreSQL server for the test session (the ``postgres_url`` fixture).

The machine's server binaries (``pg_config --bindir``, else the newest
``/usr/lib/postgresql/*/bin``) run a fresh cluster in a temporary directory, on 127.0.0.1 and a
free port, with its socket in that directory, ``initdb --no-sync -A trust`` and ``fsync=off``
(about 3 s). The server refuses to run as root, so when the tests run as root it runs as the
``postgres`` system user, in a directory that user owns under ``/tmp`` (every parent
searchable). Stopped and removed at the end of the session.

Without the binaries the fixture skips with a one-line hint, or fails when ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest


async def fresh_database(server_url: str) -> str:
    """A new empty database on the server: its URL."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


HINT = "no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql package"


@attrs.frozen
class PostgresServer:
    """A running throwaway server: connect as ``user`` on 127.0.0.1:``port`` (trust)."""

    port: int
    user: str
    directory: Path

    def url(self, database: str = "postgres", **query: str) -> str:
        tail = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}{tail}"


def find_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``, or None."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.name.split(".") if p.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def missing(hint: str = HINT) -> None:
    """Skip, or fail under CI, with the one-line hint."""
    if os.environ.get("CI"):
        pytest.fail(hint, pytrace=False)
    pytest.skip(hint)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server for the block; stop it and remove its directory afterwards."""
    bindir = find_bindir()
    if bindir is None:
        missing()
        raise AssertionError("unreachable")
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    run_as = "postgres" if as_root else None
    directory = Path(tempfile.mkdtemp(prefix="prism-async-pg-", dir="/tmp"))
    data = directory / "data"
    try:
        if as_root:
            entry = pwd.getpwnam("postgres")
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        directory.chmod(0o700 if not as_root else 0o755)
        port = _free_port()
        subprocess.run(
            [
                str(bindir / "initdb"),
                "--no-sync",
                "-A",
                "trust",
                "-U",
                user,
                "-E",
                "UTF8",
                "--no-instructions",
                "-D",
                str(data),
            ],
            check=True,
            capture_output=True,
            timeout=120,
            user=run_as,
        )
        options = (
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(directory / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
            user=run_as,
        )
        try:
            yield PostgresServer(port=port, user=user, directory=directory)
        finally:
            subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
                user=run_as,
            )
    except subprocess.CalledProcessError as exc:
        log = directory / "log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(
            f"could not start PostgreSQL: {exc}\n{exc.stderr!r}\n{exc.stdout!r}\n{detail}"
        ) from exc
    finally:
        shutil.rmtree(directory, ignore_errors=True)
