"""The greenlet bridge (auth_store/greenlet_bridge.py): sync code on the loop, its awaits native."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from typing import Any

import greenlet
import pytest

from auth_store.greenlet_bridge import await_only, run_sync

REQUEST = contextvars.ContextVar[str]("REQUEST")


def _switches(job: Any) -> tuple[Any, int]:
    """``job``'s result, and how many greenlet switches running it on the loop took."""
    seen: list[str] = []

    def trace(event: str, _args: Any) -> None:
        seen.append(event)

    async def main() -> Any:
        previous = greenlet.settrace(trace)
        try:
            return await run_sync(job)
        finally:
            greenlet.settrace(previous)

    result = asyncio.run(main())
    return result, sum(1 for event in seen if event in ("switch", "throw"))


async def _ready(value: int) -> int:
    return value


async def _after_a_wait(value: int) -> int:
    await asyncio.sleep(0.001)
    return value


def test_an_awaitable_that_never_waits_runs_inline() -> None:
    def job() -> int:
        return await_only(_ready(1)) + await_only(_ready(2))

    result, switches = _switches(job)
    assert result == 3
    assert switches == 2  # into the job and out of it: none for the two awaits


def test_an_awaitable_that_waits_pauses_the_greenlet_once() -> None:
    def job() -> int:
        return await_only(_after_a_wait(5))

    result, switches = _switches(job)
    assert result == 5
    assert switches == 4  # in, out at the wait, back in with the result, out


def test_errors_come_out_of_await_only_where_they_happen() -> None:
    async def fails_after_a_wait() -> None:
        await asyncio.sleep(0)
        raise KeyError("late")

    async def fails_at_once() -> None:
        raise KeyError("early")

    def job() -> list[str]:
        caught = []
        for awaitable in (fails_at_once(), fails_after_a_wait()):
            try:
                await_only(awaitable)
            except KeyError as exc:
                caught.append(str(exc.args[0]))
        return caught

    assert asyncio.run(run_sync(job)) == ["early", "late"]


def test_cancellation_reaches_the_awaitable_and_its_cleanup_can_await() -> None:
    events: list[str] = []

    async def waits_forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            events.append("awaitable cleaned up")

    def job() -> None:
        try:
            await_only(waits_forever())
        finally:
            await_only(asyncio.sleep(0))  # cleanup that itself waits
            events.append("job cleaned up")

    async def main() -> None:
        task = asyncio.create_task(run_sync(job))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert events == ["awaitable cleaned up", "job cleaned up"]


def test_run_sync_inside_an_inline_awaitable_that_then_waits() -> None:
    # An awaitable that await_only starts inline can itself call run_sync (the
    # pool's check callback does) and wait in it; each greenlet must return to
    # whoever resumes it, with many tasks interleaving.
    async def inner_waits(n: int) -> int:
        return await run_sync(lambda: await_only(_after_a_wait(n)) * 10)

    def job(n: int) -> int:
        return await_only(inner_waits(n)) + 1

    async def main() -> list[int]:
        return await asyncio.gather(*(run_sync(job, n) for n in range(50)))

    assert asyncio.run(main()) == [n * 10 + 1 for n in range(50)]


def test_the_job_sees_the_callers_context_variables() -> None:
    def job() -> str:
        await_only(_after_a_wait(0))
        return REQUEST.get()

    async def one(name: str) -> str:
        REQUEST.set(name)
        return await run_sync(job)

    async def main() -> list[str]:
        return list(await asyncio.gather(one("a"), one("b"), one("c")))

    assert asyncio.run(main()) == ["a", "b", "c"]


def test_await_only_outside_run_sync_is_an_error_and_closes_the_awaitable() -> None:
    awaitable = _ready(1)
    with pytest.raises(RuntimeError, match="outside run_sync"):
        await_only(awaitable)
    # Closed: no "never awaited" warning on top of the error.
    assert inspect.getcoroutinestate(awaitable) == inspect.CORO_CLOSED
