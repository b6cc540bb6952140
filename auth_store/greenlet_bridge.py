"""Run sync code on the event loop, its driver calls awaited natively (a greenlet bridge).

``await run_sync(fn, *args)`` runs ``fn`` in a greenlet on the loop's own
thread. Where ``fn`` (however deep) calls ``await_only(awaitable)``, the
greenlet pauses and ``run_sync`` awaits that awaitable on the loop, then
resumes ``fn`` with the result (or raises into it what the await raised, a
cancellation included, so ``fn``'s ``finally`` and ``with`` blocks run and
can still await their cleanup). No thread is involved; other tasks run
while ``fn`` waits.

``await_only`` first runs the awaitable inline, as far as it goes without
waiting: most of a driver's awaits (a fetch of rows already received, a
free lock) never wait, and cost no switch. Only at its first real wait does
the greenlet pause; ``run_sync`` then drives the rest of it on the loop.

This is how SQLAlchemy's asyncio extension runs its one ORM over async
drivers: it lets the sync Postgres adapter, unchanged, serve as the async
twin (``auth_store.adapters.postgres_async``). A context switch costs well
under a microsecond.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, ParamSpec, TypeVar, cast

import greenlet

__all__ = ["await_only", "run_sync", "sync_context"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _Bridged(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet that runs one job after another for ``run_sync`` (making one costs µs)."""

    def __init__(self) -> None:
        super().__init__(self._serve)

    def _serve(self, job: _Job) -> None:
        while True:
            fn, args, kwargs = job
            try:
                step: _Step = (_DONE, fn(*args, **kwargs))
            except BaseException as exc:
                step = (_FAILED, exc)
            del fn, args, kwargs  # hold nothing of the job while idle
            job = self.parent.switch(step)


_Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_Step = tuple[int, Any]
_AWAIT, _DONE, _FAILED = 0, 1, 2
#: Idle greenlets kept per thread for the next calls (more are made when all are busy).
_KEEP = 64
_idle = threading.local()


def _idle_list() -> list[_Bridged]:
    try:
        found: list[_Bridged] = _idle.runners
    except AttributeError:
        found = _idle.runners = []
    return found


async def run_sync(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``fn(*args, **kwargs)`` on this loop; its ``await_only`` calls are awaited here."""
    idle = _idle_list()
    runner = idle.pop() if idle else _Bridged()
    here = greenlet.getcurrent()
    runner.parent = here
    # The task's context (contextvars) is the job's too.
    runner.gr_context = here.gr_context
    kind, value = runner.switch((fn, args, kwargs))
    while kind == _AWAIT:
        try:
            result = await value
        except BaseException as exc:
            # The greenlet goes back to whoever resumes it: an await_only that
            # ran this coroutine inline resumes it from elsewhere once it waited.
            runner.parent = greenlet.getcurrent()
            kind, value = runner.throw(exc)
        else:
            runner.parent = greenlet.getcurrent()
            kind, value = runner.switch(result)
    if len(idle) < _KEEP:
        idle.append(runner)
    if kind == _FAILED:
        raise value
    return cast(R, value)


def await_only(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` from sync code that ``run_sync`` runs; its result or its error."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Bridged):
        if hasattr(awaitable, "close"):
            awaitable.close()  # no "never awaited" warning on top of the error
        raise RuntimeError("await_only() called outside run_sync()")
    steps = awaitable.__await__()
    try:
        waits_for = steps.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    return cast(T, current.parent.switch((_AWAIT, _Rest(steps, waits_for))))


class _Rest:
    """The rest of an awaitable that ``await_only`` started: awaiting it drives it to its end.

    What the awaitable yielded first (the future it waits on) goes to the task
    first; from then on this is what ``yield from`` does: the task's results
    and errors (a cancellation) go in, what the awaitable yields goes out.
    """

    __slots__ = ("_steps", "_waits_for")

    def __init__(self, steps: Generator[Any, Any, Any], waits_for: Any) -> None:
        self._steps = steps
        self._waits_for = waits_for

    def __await__(self) -> Generator[Any, Any, Any]:
        steps, waits_for = self._steps, self._waits_for
        while True:
            try:
                sent = yield waits_for
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as exc:
                try:
                    waits_for = steps.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waits_for = steps.send(sent)
                except StopIteration as done:
                    return done.value


@contextmanager
def sync_context(manager: AbstractAsyncContextManager[T]) -> Iterator[T]:
    """An async context manager used as a sync one (inside ``run_sync``)."""
    value = await_only(manager.__aenter__())
    try:
        yield value
    except BaseException as exc:
        if not await_only(manager.__aexit__(type(exc), exc, exc.__traceback__)):
            raise
    else:
        await_only(manager.__aexit__(None, None, None))
