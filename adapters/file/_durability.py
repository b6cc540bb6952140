"""When index lines reach the disk: at checkpoints, with a marker for a machine crash.

A durable write must leave on disk both its record and its index entries
(an entry lost while its record survives would hide the record). Fsyncing
the index log on every write would cost a third fsync; instead:

- the record is fsynced on every write (its file, then its directory);
- before the first index line that is not fsynced, the store writes the
  *unsynced marker* (``<root>/_unsynced``, fsynced) holding the kernel's
  boot id;
- at a checkpoint (every few hundred lines) and on ``close`` the logs are
  fdatasync'ed and the marker removed (both under the write lock, so no
  other process has lines in flight).

A process killed with SIGKILL loses nothing: its lines are in the page
cache, which the kernel writes out. Only a crash of the machine can lose
them, and the next boot has another boot id: a store that finds a marker of
another boot rebuilds its indices from the records, which were all fsynced.
Where there is no boot id (not Linux) every index line is fsynced instead.
"""

from __future__ import annotations

from . import _atomic

__all__ = ["MARKER_NAME", "boot_id", "clear_marker", "read_marker", "set_marker"]

MARKER_NAME = "_unsynced"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str | None:
    """This boot's id (Linux), or ``None`` where the system does not give one."""
    try:
        with open(_BOOT_ID, encoding="ascii") as file:
            value = file.read().strip()
    except (OSError, ValueError):
        return None
    return value or None


def read_marker(root_fd: int, root: str) -> str | None:
    """The boot id in the marker, ``""`` for an unreadable one, ``None`` without a marker."""
    data = _atomic.read(root_fd, MARKER_NAME, where=f"{root}/{MARKER_NAME}")
    if data is None:
        return None
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        return ""


def set_marker(root_fd: int, root: str, boot: str) -> None:
    """Write the marker durably (the caller holds the write lock)."""
    where = f"{root}/{MARKER_NAME}"
    _atomic.write_atomic(
        root_fd, MARKER_NAME, boot.encode("ascii") + b"\n", durable=True, where=where
    )


def clear_marker(root_fd: int, root: str) -> None:
    """Remove the marker durably, once every log is fsynced (the caller holds the lock)."""
    _atomic.remove(root_fd, MARKER_NAME, durable=True, where=f"{root}/{MARKER_NAME}")
