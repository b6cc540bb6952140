"""Idle pooled connections kept at hand: the per-call path around ``psycopg_pool``.

Lending a connection through ``ConnectionPool.getconn``/``putconn`` costs
about 20 µs of Python per call on a 2-core machine (locks, statistics,
logging, expiry, the check callback), about a fifth of an indexed join on a
local server; the async pool costs more. A ``Lane`` keeps the connections
its callers give back, idle, in a stack, and lends them again with a pop and
the liveness check: no pool bookkeeping on the common path.

The pool stays the owner of every connection, and nothing waits for a
connection idling in the lane:

* A caller finding the lane empty asks the pool; while any caller waits on
  the pool, connections given back go to the pool (which hands them to the
  waiter), not to the lane.
* A connection goes back to the pool at the latest ``hold`` seconds after
  the pool lent it, so the pool's ``max_idle``, ``max_lifetime``, draining
  and accounting apply to it (late by at most that).
* A connection given back inside a transaction, broken or closed goes to the
  pool, which resets or discards it.
* The check the pool would run before lending runs before the lane lends:
  ``auto`` polls the socket (one syscall, the poller kept with the idle
  connection), ``always`` is a round trip.

Taking and giving back are a list's atomic ``pop`` and ``append`` (no lock
on the common path); only a caller that goes to the pool takes the lock, to
count itself as waiting. Nothing in the lane blocks or awaits except the
pool's own calls, so one lane serves both threads (the sync backend) and
the tasks of one event loop (the async twin: its pool calls suspend the
caller's greenlet; ``take_ready``/``keep`` never call the pool).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any, Generic, Protocol, TypeVar

from psycopg import pq

__all__ = ["Lane", "Lent"]

_IDLE = pq.TransactionStatus.IDLE


class _Conn(Protocol):
    @property
    def pgconn(self) -> pq.abc.PGconn: ...

    def fileno(self) -> int: ...


C = TypeVar("C", bound=_Conn)


class _Pool(Protocol[C]):
    def getconn(self, timeout: float | None = None) -> C: ...

    def putconn(self, conn: C) -> None: ...


class Lent(Generic[C]):
    """A connection lent by a ``Lane``: give it back with ``Lane.give_back``."""

    __slots__ = ("conn", "cursor", "poller", "since")

    def __init__(self, conn: C, since: float, poller: Any) -> None:
        self.conn = conn
        #: When the pool lent it (``time.monotonic``).
        self.since = since
        #: A ``select.poll`` object watching its socket (None where there is none).
        self.poller = poller
        #: The cursor the backend keeps for its one-statement calls on it (theirs to set).
        self.cursor: Any = None


def _poller(conn: _Conn) -> Any:
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return None
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return poller


class Lane(Generic[C]):
    """Connections lent by ``pool`` and given back, lent again without the pool.

    ``check(conn)`` raises if a connection must not be lent (the pool's own
    check); ``quiet_is_fine`` says an idle connection whose socket has nothing
    to read passes it without being called (the ``auto`` check). ``on_dead``
    runs after a connection failed the check (and went back to the pool):
    whatever killed it most likely killed its siblings.
    """

    def __init__(
        self,
        pool: _Pool[C],
        *,
        check: Callable[[C], None],
        quiet_is_fine: bool,
        on_dead: Callable[[], None],
        hold: float = 1.0,
    ) -> None:
        self._pool = pool
        self._check = check
        self._quiet_is_fine = quiet_is_fine
        self._on_dead = on_dead
        self._hold = hold
        self._idle: list[Lent[C]] = []
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False

    @property
    def idle(self) -> int:
        """How many connections wait in the lane (idle, counted by the pool as lent)."""
        return len(self._idle)

    def take(self) -> Lent[C]:
        """A connection: the most recently given back one that passes the check, or the pool's."""
        lent = self._from_idle()
        if lent is not None:
            return lent
        with self._lock:
            self._waiting += 1
        try:
            # One given back after the first look, by a giver that saw no waiter yet.
            lent = self._from_idle()
            if lent is not None:
                return lent
            return Lent(self._pool.getconn(), monotonic(), None)
        finally:
            with self._lock:
                self._waiting -= 1

    def _from_idle(self) -> Lent[C] | None:
        idle = self._idle
        while True:
            try:
                lent = idle.pop()
            except IndexError:
                return None
            if monotonic() - lent.since >= self._hold:
                self._pool.putconn(lent.conn)  # its turn through the pool's housekeeping
            elif self._passes(lent):
                return lent

    def _passes(self, lent: Lent[C]) -> bool:
        conn = lent.conn
        # A closed socket polls readable too (end of file).
        if self._quiet_is_fine and lent.poller is not None and not lent.poller.poll(0):
            return True
        try:
            self._check(conn)
        except Exception:
            self._pool.putconn(conn)  # the pool discards a closed connection
            self.flush()
            self._on_dead()
            return False
        return True

    def take_ready(self) -> Lent[C] | None:
        """``take`` without calling the pool or the check, for the callers of one event
        loop: the last idle connection if it is quiet (``auto`` check) and not due
        back; ``None`` otherwise (then ``take`` does what is needed)."""
        if not self._quiet_is_fine:
            return None
        idle = self._idle
        try:
            lent = idle[-1]
        except IndexError:
            return None
        poller = lent.poller
        if poller is None or monotonic() - lent.since >= self._hold or poller.poll(0):
            return None
        return idle.pop()

    def keep(self, lent: Lent[C]) -> Lent[C] | None:
        """Put a connection given back in the lane, if the rules allow.

        Returns the connection that must go to the pool instead (this one, or
        one a caller that started waiting on the pool meanwhile needs), or None.
        """
        # Not idle: in a transaction or an error (the pool resets it), or closed (UNKNOWN).
        if (
            lent.conn.pgconn.transaction_status != _IDLE
            or monotonic() - lent.since >= self._hold
            or self._waiting
            or self._closed
        ):
            return lent
        if lent.poller is None:
            lent.poller = _poller(lent.conn)
        idle = self._idle
        idle.append(lent)
        # Appends and pops are atomic; a caller counted as waiting after the
        # check above looks at the lane once more before it waits on the pool.
        if self._waiting or self._closed:
            try:
                return idle.pop()
            except IndexError:
                return None  # taken meanwhile
        return None

    def give_back(self, lent: Lent[C]) -> None:
        """Return what ``take`` lent: to the lane, or to the pool (see the module's rules)."""
        to_pool = self.keep(lent)
        if to_pool is not None:
            self._pool.putconn(to_pool.conn)

    def to_pool(self, lent: Lent[C]) -> None:
        """Give a connection to the pool (what ``keep`` returned)."""
        self._pool.putconn(lent.conn)

    def flush(self) -> None:
        """Give every idle connection back to the pool (before it checks, drains or closes)."""
        idle = self._idle
        while True:
            try:
                lent = idle.pop()
            except IndexError:
                return
            self._pool.putconn(lent.conn)

    def close(self) -> None:
        """From now on every connection given back goes to the pool; the idle ones go now."""
        self._closed = True
        self.flush()
