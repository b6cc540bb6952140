"""Writing a file that a user names (an export, a backup, a key file), safely.

``check_output(path, overwrite=...)`` refuses, before any work is done, a
path that cannot be written safely: one that names a directory, a symbolic
link (never written through, nor replaced: even a dangling one), anything
but a regular file (a device, a FIFO), or an existing file unless
``overwrite``. The refusals are ``OSError``s naming the path, as ``open``'s.

``atomic_output(path, overwrite=...)`` writes it: into a temporary file in
the same directory (mode 0600), flushed and fsynced, then moved into place
and the directory fsynced. Without ``overwrite`` the move is a hard link,
which fails when anything is at the name by then, so a file that appeared
while the output was being written is refused too, never replaced. On any
failure the temporary file is removed and whatever was at ``path`` stays as
it was: there is never a half-written file under the name.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["OutputExistsError", "atomic_output", "check_output", "publish"]

#: ``os.link`` failures that mean "this filesystem has no hard links", not "refused".
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


class OutputExistsError(FileExistsError):
    """The output file exists and replacing it was not asked for (``overwrite=False``).

    The one refusal of ``check_output`` that ``overwrite=True`` lifts.
    """


def _exists(path: str | os.PathLike[str]) -> OutputExistsError:
    return OutputExistsError(errno.EEXIST, "File exists", os.fspath(path))


def check_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Raise the ``OSError`` that writing ``path`` would be refused with, if any.

    ``IsADirectoryError`` for a directory (or a name ending in a separator),
    ``FileExistsError`` for a symbolic link or anything but a regular file,
    ``OutputExistsError`` for an existing file unless ``overwrite``; what
    ``lstat`` raises for a parent that is missing or not a directory.
    """
    name = os.fspath(path)
    if name.endswith((os.sep, os.altsep or os.sep)):
        raise IsADirectoryError(errno.EISDIR, "Names a directory", name)
    try:
        found = os.lstat(name)
    except (FileNotFoundError, NotADirectoryError):
        parent = os.path.dirname(name) or "."
        if os.path.isdir(parent):
            return
        if os.path.lexists(parent):
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", parent) from None
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", parent) from None
    if stat.S_ISLNK(found.st_mode):
        raise FileExistsError(errno.EEXIST, "Is a symbolic link (never written through)", name)
    if stat.S_ISDIR(found.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", name)
    if not stat.S_ISREG(found.st_mode):
        raise FileExistsError(errno.EEXIST, "Not a regular file", name)
    if not overwrite:
        raise _exists(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, path: Path, *, overwrite: bool = False) -> None:
    """Move the complete file ``tmp`` to ``path`` (same filesystem), then fsync its directory.

    Without ``overwrite`` nothing at ``path`` is ever replaced
    (``OutputExistsError``); with it, only a regular file is.
    """
    if overwrite:
        check_output(path, overwrite=True)  # what may have appeared since the first check
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path, follow_symlinks=False)
        except FileExistsError:
            raise _exists(path) from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            # A filesystem without hard links: check, then rename (a narrow window).
            check_output(path, overwrite=False)
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
    _fsync_dir(path.parent)


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[IO[str]]:
    """A UTF-8 text stream that becomes ``path`` (mode 0600) when the block ends without error.

    ``check_output``'s refusals come before the block runs; see the module doc.
    """
    check_output(path, overwrite=overwrite)
    target = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # name the folder given, not the temporary file's random name
        raise OSError(exc.errno, exc.strerror, os.fspath(target.parent)) from exc
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        publish(tmp, target, overwrite=overwrite)
    finally:
        tmp.unlink(missing_ok=True)
