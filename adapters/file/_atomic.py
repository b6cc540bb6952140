"""File primitives of the file store, each relative to an open directory descriptor.

Working through directory descriptors (``dir_fd``) rather than joined paths
means a directory swapped for a symlink after the store opened can't redirect
a read or write outside the root, and ``O_NOFOLLOW`` refuses a record file
that is itself a symlink.

A durable write is: temp file in the same directory, write, flush, fsync,
``os.replace``, fsync of the directory. ``durable=False`` skips both fsyncs.
A failed fsync raises ``StorageError`` at once: it is never retried, because
after a failed fsync the kernel may already have dropped the dirty pages and
a second fsync would report success for data that is gone.
"""

from __future__ import annotations

import contextlib
import os

from auth_store.errors import StorageError

__all__ = [
    "TEMP_SUFFIX",
    "append_to",
    "datasync",
    "fsync",
    "is_temp_name",
    "read",
    "remove",
    "temp_name",
    "write_atomic",
]

TEMP_SUFFIX = ".tmp"
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_MODE = 0o600  # records hold hashes, ciphertexts and tokens
#: The first read of ``read``: larger than nearly every record.
_READ_FIRST = 1 << 14


def temp_name(name: str) -> str:
    """The temp file that stands in for ``name`` while it is being replaced.

    Writers hold the store's exclusive lock, so one fixed name per target is
    enough, and recovery knows exactly which temp an interrupted write left.
    """
    return f".{name}{TEMP_SUFFIX}"


def is_temp_name(name: str) -> bool:
    """Whether a directory entry is a temp file left by ``write_atomic``."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def fsync(fd: int, where: str) -> None:
    """fsync ``fd``; a failure is a ``StorageError``, never retried."""
    try:
        os.fsync(fd)
    except OSError as exc:
        raise StorageError(f"fsync of {where} failed; the write may not be durable") from exc


def datasync(fd: int, where: str) -> None:
    """fdatasync ``fd`` (its data, and its size if it grew); a failure is a ``StorageError``."""
    try:
        os.fdatasync(fd)
    except OSError as exc:
        raise StorageError(f"fsync of {where} failed; the write may not be durable") from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomic(dir_fd: int, name: str, data: bytes, *, durable: bool, where: str) -> None:
    """Replace ``name`` in ``dir_fd`` with ``data`` so readers see all of it or none of it.

    ``where`` is the path shown in errors. Raises ``StorageError``.
    """
    tmp = temp_name(name)
    try:
        fd = os.open(tmp, _WRITE, _FILE_MODE, dir_fd=dir_fd)
    except OSError as exc:
        raise StorageError(f"cannot create a temp file for {where}: {exc.strerror}") from exc
    try:
        try:
            _write_all(fd, data)
        except OSError as exc:
            raise StorageError(f"cannot write {where}: {exc.strerror}") from exc
        if durable:
            fsync(fd, where)
    except BaseException:
        os.close(fd)
        _unlink_quietly(dir_fd, tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        _unlink_quietly(dir_fd, tmp)
        raise StorageError(f"cannot replace {where}: {exc.strerror}") from exc
    if durable:
        fsync(dir_fd, f"the directory of {where}")


def _unlink_quietly(dir_fd: int, name: str) -> None:
    # Recovery removes leftovers; the original error is the one to report.
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def remove(dir_fd: int, name: str, *, durable: bool, where: str) -> bool:
    """Delete ``name``; ``False`` if it was not there. Raises ``StorageError``."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StorageError(f"cannot delete {where}: {exc.strerror}") from exc
    if durable:
        fsync(dir_fd, f"the directory of {where}")
    return True


def read(dir_fd: int, name: str, *, where: str) -> bytes | None:
    """The whole content of ``name``, or ``None`` if it does not exist.

    A symlink is refused (``StorageError``), never followed.
    """
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {where}: {exc.strerror}") from exc
    try:
        # No fstat first: a read of a regular file that returns less than it asked
        # for has reached the end, so one read serves every record of usual size.
        data = os.read(fd, _READ_FIRST)
        if len(data) < _READ_FIRST:
            return data
        chunks = [data]
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise StorageError(f"cannot read {where}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def append_to(fd: int, data: bytes, *, durable: bool, where: str) -> os.stat_result:
    """Append ``data`` through ``fd`` (opened with ``O_APPEND``); return its stat afterwards.

    With ``durable`` the data is fdatasync'ed before this returns.
    """
    try:
        _write_all(fd, data)
    except OSError as exc:
        raise StorageError(f"cannot append to {where}: {exc.strerror}") from exc
    if durable:
        datasync(fd, where)
    try:
        return os.fstat(fd)
    except OSError as exc:
        raise StorageError(f"cannot stat {where}: {exc.strerror}") from exc
