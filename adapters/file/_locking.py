"""The store's write lock: a thread lock inside the process, ``flock`` between processes.

Every write to a store holds both, so several threads and several processes
(for example gunicorn workers) take turns; reads take neither (records are
replaced atomically, so a reader sees a whole old or a whole new file).

The lock file also carries the *intent* of the write in progress (which
record and which index keys it touches, never a secret). A writer records
its intent before it changes anything and clears it when done, so the next
holder of the lock that finds an intent knows the previous one died midway
and which record to reconcile.

``flock`` belongs to an open file description, which ``fork`` shares: a
child that inherited the parent's descriptor would "hold" the parent's lock.
So the lock notices a change of process id and opens its own descriptor.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from auth_store.errors import StorageError

__all__ = ["LOCK_NAME", "StoreLock"]

LOCK_NAME = ".lock"
_READ_FIRST = 1 << 12


class StoreLock:
    """A re-entrant exclusive lock over one store, safe across threads and processes."""

    def __init__(self, root_fd: int, where: str) -> None:
        self._root_fd = root_fd
        self._where = where
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._owner = 0  # thread id of the holder
        self._holding = 0  # counts the holdings (outermost acquisitions) of this lock
        self._pid = os.getpid()
        self._fd = self._open()
        #: The lock file's size when known (read or written under the lock), else -1.
        self._intent_size = -1

    def _open(self) -> int:
        try:
            return os.open(
                LOCK_NAME,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=self._root_fd,
            )
        except OSError as exc:
            raise StorageError(
                f"cannot open the lock file of {self._where}: {exc.strerror}"
            ) from exc

    def _after_fork(self) -> None:
        # Our descriptor is the parent's open file description: leave it to the
        # parent (closing it would not release anything) and open our own.
        self._pid = os.getpid()
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._owner = 0
        self._intent_size = -1
        self._fd = self._open()

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Hold the lock; yields ``True`` for the outermost holder (the one that took it)."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._thread_lock:
            outermost = self._depth == 0
            if outermost:
                if self._fd < 0:
                    raise StorageError(f"the store at {self._where} is closed")
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                except OSError as exc:
                    raise StorageError(f"cannot lock {self._where}: {exc.strerror}") from exc
                self._owner = threading.get_ident()
                self._holding += 1
            self._depth += 1
            try:
                yield outermost
            finally:
                self._depth -= 1
                if outermost:
                    # Another process may write the lock file once we let go.
                    self._owner, self._intent_size = 0, -1
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def owned(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._owner == threading.get_ident() and self._pid == os.getpid()

    def holding(self) -> int:
        """A number for the calling thread's current holding of the lock, new at each
        acquisition (0 when it does not hold it)."""
        return self._holding if self.owned() else 0

    def read_intent(self) -> bytes:
        """The intent left in the lock file (empty when the last writer finished)."""
        try:
            intent = os.pread(self._fd, _READ_FIRST, 0)  # empty, or one short line
            if len(intent) == _READ_FIRST:
                intent += os.pread(self._fd, os.fstat(self._fd).st_size, _READ_FIRST)
        except OSError as exc:
            raise StorageError(f"cannot read the lock file of {self._where}") from exc
        self._intent_size = len(intent) if self.owned() else -1
        return intent

    def write_intent(self, data: bytes) -> None:
        """Record what the write about to start touches (call with the lock held)."""
        try:
            if self._intent_size != 0:  # an empty file (the usual case) needs no truncation
                os.ftruncate(self._fd, 0)
                self._intent_size = 0
            os.pwrite(self._fd, data, 0)
        except OSError as exc:
            self._intent_size = -1
            raise StorageError(f"cannot write the lock file of {self._where}") from exc
        self._intent_size = len(data)

    def clear_intent(self) -> None:
        """Mark the write as finished."""
        try:
            os.ftruncate(self._fd, 0)
        except OSError as exc:
            self._intent_size = -1
            raise StorageError(f"cannot write the lock file of {self._where}") from exc
        self._intent_size = 0

    def close(self) -> None:
        """Close the descriptor (releasing the lock if held). Idempotent."""
        with self._thread_lock:
            if self._fd >= 0 and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = -1
