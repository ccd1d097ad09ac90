"""One live run per journal file: an exclusive OS lock on a sidecar file beside it.

The lock is taken on ``<journal>.lock``, never on the journal itself (SQLite keeps its own
POSIX locks on that file, and a second descriptor closed on it would drop them). On POSIX
it is ``flock(LOCK_EX | LOCK_NB)``, on Windows ``msvcrt.locking``: either way the kernel
drops it when the descriptor is closed, so a killed process (SIGKILL included) releases it
at once and a resumed run opens the journal straight away. The lock file holds the
holder's pid and host, for the message a second opener gets; it is emptied on release and
never deleted (deleting a lock file lets two openers lock two different files).

A process-wide registry also refuses a second holder in the same process, where a
network filesystem may emulate ``flock`` with per-process POSIX locks.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from prism_async._errors import JournalError, JournalLockedError

__all__ = ["JournalLock", "lock_path"]

if sys.platform == "win32":  # pragma: no cover - not exercised on the POSIX CI
    import msvcrt

    # Lock one byte past the holder's note, so a second opener can still read the note.
    _WINDOWS_LOCK_OFFSET = 1 << 16

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLOCK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


_held: set[tuple[int, int]] = set()  # (st_dev, st_ino) of the lock files this process holds
_held_guard = threading.Lock()


def lock_path(journal: Path) -> Path:
    """The sidecar lock file of a journal: ``batch.db`` -> ``batch.db.lock``."""
    return journal.with_name(journal.name + ".lock")


def _oneline(text: str) -> str:
    return " ".join(text.split())


class JournalLock:
    """The held lock of one open journal. :meth:`acquire` it, :meth:`release` it once."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        # Beside the real file: two symlinks to one journal share one lock.
        self.path = lock_path(Path(os.path.realpath(journal)))
        self._fd: int | None = None
        self._id: tuple[int, int] | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or fail at once.

        Raises:
            JournalLockedError: Another live run (or another open journal object in this
                process) holds it.
            JournalError: The lock file cannot be created or locked.
        """
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(
                _oneline(
                    f"journal {self.journal}: cannot open its lock file {self.path.name}"
                    f" ({exc.strerror or exc})"
                )
            ) from exc
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            with _held_guard:
                if ident in _held or not _try_lock(fd):
                    raise JournalLockedError(self._locked_message(fd))
                _held.add(ident)
            try:
                note = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                }
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, (json.dumps(note) + "\n").encode())
            except OSError:
                pass  # the note is only for the message; the lock itself is held
        except JournalError:
            os.close(fd)
            raise
        except OSError as exc:
            os.close(fd)
            raise JournalError(
                _oneline(
                    f"journal {self.journal}: cannot lock {self.path.name} ({exc.strerror or exc})"
                )
            ) from exc
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._id = fd, ident

    def _locked_message(self, fd: int) -> str:
        holder = ""
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            note = json.loads(os.read(fd, 4096).decode() or "{}")
            if isinstance(note, dict) and note.get("pid"):
                holder = f" (pid {note['pid']} on host {note.get('host') or '?'})"
        except (OSError, ValueError):
            pass
        return _oneline(
            f"journal {self.journal} is in use by another run{holder}; one run per journal"
        )

    def release(self) -> None:
        """Let the lock go (empties the holder's note first). Safe to call twice."""
        fd, ident = self._fd, self._id
        if fd is None:
            return
        self._fd = self._id = None
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                _unlock(fd)  # closing the descriptor below drops it anyway
        finally:
            os.close(fd)
            if ident is not None:
                with _held_guard:
                    _held.discard(ident)
