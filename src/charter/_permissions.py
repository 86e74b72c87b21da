"""Files that hold customer data (the journal, the demo world, the workflow database) are
created readable by their owner alone, as the signing key is: mode 0600, in a directory
of mode 0700 when charter creates it.

Existing files and directories keep their modes (their owner may have chosen them): one
readable by others is reported as a warning on the ``charter`` logger, never changed.
SQLite creates a database's ``-wal`` and ``-shm`` side files with the database file's
own mode, so a private database keeps them private too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("charter")

_warned: set[Path] = set()


def _warn_if_shared(path: Path, what: str) -> None:
    """Warn (once a process) that ``path``, owned by this user, is open to others."""
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077 and path not in _warned:
            _warned.add(path)
            log.warning(
                "%s %s is readable by other users (mode %s); `chmod %s %s` makes it private",
                what,
                path,
                oct(stat.S_IMODE(info.st_mode)),
                "700" if path.is_dir() else "600",
                path,
            )


def private_directory(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; an existing one is left as
    it is (a shared parent such as a home directory is the owner's choice).

    Raises:
        OSError: it cannot be created.
    """
    if path.is_dir():
        return
    missing: list[Path] = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for created in missing:
        with contextlib.suppress(OSError):  # mkdir's mode is filtered through the umask
            created.chmod(0o700)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (an empty file is a new
    SQLite database); warn if it exists readable by others.

    Raises:
        OSError: it cannot be created.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        _warn_if_shared(path, "file")
        return
    os.close(fd)
