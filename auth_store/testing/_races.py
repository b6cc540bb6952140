"""Races: several threads on one adapter, several processes on one URL.

Process workers are module-level functions so the ``spawn`` start method can
pickle them; each child opens the store itself (``auth_store.connect(url)``,
or the suite's ``process_opener``), waits at a barrier so all start together,
runs one operation and reports a plain tuple through a queue. Every wait has
a timeout, so a broken adapter fails the test instead of hanging it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any

from auth_store.adapter import Adapter
from auth_store.errors import AuthStoreError
from auth_store.models import User

from ._base import Base

__all__ = ["RaceCases", "process_case", "run_processes", "run_threads"]

#: A worker's report: ("ok", value) | ("raised", error class name) | ("error", text).
Outcome = tuple[str, Any]


# -- what one racer does (module level: children import these by name) ---------


def _use_token(store: Adapter, identifier: str, token: str) -> bool:
    return store.use_verification_token(identifier, token) is not None


def _set_credential(store: Adapter, credential_id: str, version: int, who: str) -> bool:
    return (
        store.update_credential(credential_id, {"winner": who}, expected_version=version)
        is not None
    )


def _create_user(store: Adapter, email: str) -> str | None:
    return store.create_user(User(email=email)).id


def _increment(store: Adapter, credential_id: str, times: int) -> int:
    """Add one to ``data["n"]`` ``times`` times by read + compare-and-set; return retries."""
    retries = 0
    done = 0
    while done < times:
        if retries > 1000 * times:
            raise AssertionError(f"compare-and-set kept failing ({retries} retries)")
        current = store.get_credential(credential_id)
        if current is None:
            raise AssertionError("credential vanished")
        data = dict(current.data, n=current.data["n"] + 1)
        if store.update_credential(credential_id, data, expected_version=current.version):
            done += 1
        else:
            retries += 1
    return retries


def _create_users(store: Adapter, prefix: str, count: int) -> int:
    for n in range(count):
        store.create_user(User(email=f"{prefix}-{n}@example.com"))
    return count


OPERATIONS: dict[str, Callable[..., Any]] = {
    "use_token": _use_token,
    "set_credential": _set_credential,
    "create_user": _create_user,
    "increment": _increment,
    "create_users": _create_users,
}


def _report(call: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", call())
    except AuthStoreError as exc:
        return ("raised", type(exc).__name__)
    except Exception as exc:
        return ("error", f"{type(exc).__module__}.{type(exc).__name__}: {exc}")


def resolve_opener(path: str) -> Callable[[str], Adapter]:
    """``"package.module:function"`` -> that function (how a child finds its opener)."""
    module_name, _, attribute = path.partition(":")
    opener: Callable[[str], Adapter] = getattr(importlib.import_module(module_name), attribute)
    return opener


def process_worker(
    opener: str,
    url: str,
    operation: str,
    args: tuple[Any, ...],
    barrier: Any,
    results: Any,
    timeout: float,
) -> None:
    """Child process body: open the store, wait for the others, run ``operation``, report."""
    try:
        store = resolve_opener(opener)(url)
    except Exception as exc:
        results.put(("error", f"opening the store failed: {type(exc).__name__}: {exc}"))
        barrier.abort()
        return
    try:
        try:
            barrier.wait(timeout)
        except threading.BrokenBarrierError:
            results.put(("error", "the start barrier broke (another racer failed to start)"))
            return
        results.put(_report(lambda: OPERATIONS[operation](store, *args)))
    finally:
        store.close()


def run_processes(
    url: str,
    operation: str,
    args_list: list[tuple[Any, ...]],
    timeout: float,
    opener: str = "auth_store:connect",
) -> list[Outcome]:
    """Run ``operation`` in one spawned process per ``args`` tuple, all released at once.

    Each child opens ``url`` with ``opener`` (``"module:function"``). Returns one
    outcome per child, or an ``("error", ...)`` for each that did not report in time.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args_list))
    results = ctx.Queue()
    children = [
        ctx.Process(
            target=process_worker,
            args=(opener, url, operation, args, barrier, results, timeout),
            daemon=True,
        )
        for args in args_list
    ]
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    try:
        for child in children:
            child.start()
        for _ in children:
            try:
                outcomes.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                missing = len(children) - len(outcomes)
                outcomes += [("error", f"no report within {timeout}s (hung or crashed)")] * missing
                break
        for child in children:
            child.join(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(timeout=10)
        results.close()
        results.join_thread()
    return outcomes


def run_threads(calls: list[Callable[[], Any]], timeout: float) -> list[Outcome]:
    """Run each call in its own thread, all released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def racer(call: Callable[[], Any]) -> Outcome:
        try:
            barrier.wait(timeout)
        except threading.BrokenBarrierError:
            return ("error", "the start barrier broke")
        return _report(call)

    pool = ThreadPoolExecutor(max_workers=len(calls))
    deadline = time.monotonic() + timeout
    try:
        futures = [pool.submit(racer, call) for call in calls]
        outcomes: list[Outcome] = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                outcomes.append(("error", f"no result within {timeout}s (hung)"))
        return outcomes
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def process_case(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a case that needs a second process (left out when ``multiprocess`` is False)."""
    test.needs_processes = True  # type: ignore[attr-defined]
    return test


def _errors(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o[0] == "error"]


class RaceCases(Base):
    """The single-use primitives under concurrency; shared storage across processes."""

    # -- threads --------------------------------------------------------------

    def test_threads_using_one_verification_token_have_one_winner(self, adapter: Adapter) -> None:
        vt = adapter.create_verification_token(self.new_token())
        outcomes = run_threads(
            [
                lambda: adapter.use_verification_token(vt.identifier, vt.token) is not None
                for _ in range(self.race_threads)
            ],
            self.race_timeout,
        )
        assert not _errors(outcomes)
        assert sorted(outcomes) == [("ok", False)] * (self.race_threads - 1) + [("ok", True)]
        assert adapter.counts()["verification_tokens"] == 0

    def test_threads_updating_one_credential_version_have_one_winner(
        self, adapter: Adapter
    ) -> None:
        user = self.make_user(adapter)
        credential = adapter.create_credential(self.new_credential(user.id))
        cid = str(credential.id)
        outcomes = run_threads(
            [partial(_set_credential, adapter, cid, 1, f"t{n}") for n in range(self.race_threads)],
            self.race_timeout,
        )
        assert not _errors(outcomes)
        assert sorted(outcomes) == [("ok", False)] * (self.race_threads - 1) + [("ok", True)]
        stored = adapter.get_credential(cid)
        assert stored is not None
        assert stored.version == 2

    def test_threads_creating_one_email_make_one_user(self, adapter: Adapter) -> None:
        email = f"{self.unique('race')}@example.com"
        outcomes = run_threads(
            [lambda: adapter.create_user(User(email=email)).id for _ in range(self.race_threads)],
            self.race_timeout,
        )
        assert not _errors(outcomes)
        assert [o[0] for o in outcomes].count("ok") == 1
        assert sorted(o for o in outcomes if o[0] != "ok") == [("raised", "ConflictError")] * (
            self.race_threads - 1
        )
        assert adapter.counts()["users"] == 1

    def test_threads_incrementing_by_compare_and_set_lose_no_update(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        credential = adapter.create_credential(self.new_credential(user.id, data={"n": 0}))
        cid = str(credential.id)
        per_thread = 5
        outcomes = run_threads(
            [lambda: _increment(adapter, cid, per_thread) for _ in range(self.race_threads)],
            self.race_timeout,
        )
        assert not _errors(outcomes)
        stored = adapter.get_credential(cid)
        assert stored is not None
        assert stored.data["n"] == per_thread * self.race_threads
        assert stored.version == 1 + per_thread * self.race_threads

    def test_threads_updating_one_account_never_mix_two_writes(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        account = adapter.link_account(
            self.new_account(
                uid, access_token="a0", refresh_token="r0", expires_at=0, extra={"w": 0}
            )
        )
        key = (account.provider, account.provider_account_id)
        rounds = 10
        writers = max(2, self.race_threads // 2)

        def write(n: int) -> int:
            for r in range(rounds):
                tag = n * 1000 + r
                adapter.update_account(
                    *key,
                    access_token=f"a{tag}",
                    refresh_token=f"r{tag}",
                    expires_at=tag,
                    extra={"w": tag},
                )
            return rounds

        def read() -> list[tuple[Any, ...]]:
            # Every read must show one writer's whole change, never parts of two.
            mixed = []
            for _ in range(rounds * 2):
                found = adapter.get_account(*key)
                assert found is not None
                tags = (
                    str(found.access_token)[1:],
                    str(found.refresh_token)[1:],
                    str(found.expires_at),
                    str(found.extra.get("w")),
                )
                if len(set(tags)) != 1:
                    mixed.append(tags)
            return mixed

        calls: list[Callable[[], Any]] = [partial(write, n) for n in range(1, writers + 1)]
        calls += [read for _ in range(max(1, self.race_threads - writers))]
        outcomes = run_threads(calls, self.race_timeout)
        assert not _errors(outcomes)
        assert outcomes[:writers] == [("ok", rounds)] * writers
        assert [o for o in outcomes[writers:] if o != ("ok", [])] == []
        final = adapter.get_account(*key)
        assert final is not None
        tag = final.expires_at
        assert tag is not None
        assert tag % 1000 == rounds - 1  # some writer's last change, whole
        assert (final.access_token, final.refresh_token, final.extra) == (
            f"a{tag}",
            f"r{tag}",
            {"w": tag},
        )

    def test_threads_updating_different_account_fields_lose_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        account = adapter.link_account(self.new_account(uid))
        key = (account.provider, account.provider_account_id)
        fields = ["access_token", "refresh_token", "scope", "id_token", "token_type", "extra"]
        rounds = 10

        def write(name: str) -> int:
            for r in range(rounds):
                value: Any = {"n": r} if name == "extra" else f"{name}-{r}"
                adapter.update_account(*key, **{name: value})
            return rounds

        outcomes = run_threads([partial(write, name) for name in fields], self.race_timeout)
        assert not _errors(outcomes)
        final = adapter.get_account(*key)
        assert final is not None
        last = rounds - 1
        expected = {name: f"{name}-{last}" for name in fields if name != "extra"}
        assert {name: getattr(final, name) for name in expected} == expected
        assert final.extra == {"n": last}
        assert (final.expires_at, final.session_state) == (
            account.expires_at,
            account.session_state,
        )

    def test_threads_updating_different_session_fields_lose_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        session = adapter.create_session(self.new_session(uid))
        base = self.later(days=1)
        rounds = 10

        def value(name: str, r: int) -> Any:
            if name in ("expires", "created_at", "updated_at"):
                return base + timedelta(minutes=r)
            return f"{name}-{r}"

        names = ["expires", "created_at", "updated_at", "ip_address", "user_agent"]

        def write(name: str) -> int:
            for r in range(rounds):
                adapter.update_session(session.session_token, **{name: value(name, r)})
            return rounds

        outcomes = run_threads([partial(write, name) for name in names], self.race_timeout)
        assert not _errors(outcomes)
        found = adapter.get_session_and_user(session.session_token)
        assert found is not None
        assert {name: getattr(found[0], name) for name in names} == {
            name: value(name, rounds - 1) for name in names
        }

    # -- processes ------------------------------------------------------------

    @process_case
    def test_another_handle_on_the_url_sees_the_same_store(
        self, adapter: Adapter, url: str
    ) -> None:
        user = self.make_user(adapter)
        with self.open(url) as other:
            assert other.get_user_by_email(user.email) == user
            second = other.create_user(self.new_user())
        assert adapter.get_user(second.id) == second

    @process_case
    def test_processes_using_one_verification_token_have_one_winner(
        self, adapter: Adapter, url: str
    ) -> None:
        vt = adapter.create_verification_token(self.new_token())
        outcomes = run_processes(
            url,
            "use_token",
            [(vt.identifier, vt.token)] * self.race_processes,
            self.race_timeout,
            self.process_opener,
        )
        assert not _errors(outcomes)
        assert sorted(outcomes) == [("ok", False)] * (self.race_processes - 1) + [("ok", True)]
        assert adapter.counts()["verification_tokens"] == 0

    @process_case
    def test_processes_updating_one_credential_version_have_one_winner(
        self, adapter: Adapter, url: str
    ) -> None:
        user = self.make_user(adapter)
        credential = adapter.create_credential(self.new_credential(user.id))
        cid = str(credential.id)
        outcomes = run_processes(
            url,
            "set_credential",
            [(cid, 1, f"p{n}") for n in range(self.race_processes)],
            self.race_timeout,
            self.process_opener,
        )
        assert not _errors(outcomes)
        assert sorted(outcomes) == [("ok", False)] * (self.race_processes - 1) + [("ok", True)]
        stored = adapter.get_credential(cid)
        assert stored is not None
        assert stored.version == 2
        assert stored.data["winner"].startswith("p")

    @process_case
    def test_processes_creating_one_email_make_one_user(self, adapter: Adapter, url: str) -> None:
        email = f"{self.unique('race')}@example.com"
        outcomes = run_processes(
            url,
            "create_user",
            [(email,)] * self.race_processes,
            self.race_timeout,
            self.process_opener,
        )
        assert not _errors(outcomes)
        winners = [o for o in outcomes if o[0] == "ok"]
        assert len(winners) == 1
        assert sorted(o for o in outcomes if o[0] != "ok") == [("raised", "ConflictError")] * (
            self.race_processes - 1
        )
        assert adapter.counts()["users"] == 1
        found = adapter.get_user_by_email(email)
        assert found is not None
        assert found.id == winners[0][1]

    @process_case
    def test_processes_writing_at_once_lose_no_update(self, adapter: Adapter, url: str) -> None:
        user = self.make_user(adapter)
        credential = adapter.create_credential(self.new_credential(user.id, data={"n": 0}))
        cid = str(credential.id)
        per_process = 5
        outcomes = run_processes(
            url,
            "increment",
            [(cid, per_process)] * self.race_processes,
            self.race_timeout,
            self.process_opener,
        )
        assert not _errors(outcomes)
        stored = adapter.get_credential(cid)
        assert stored is not None
        assert stored.data["n"] == per_process * self.race_processes
        assert stored.version == 1 + per_process * self.race_processes

    @process_case
    def test_processes_creating_users_lose_none(self, adapter: Adapter, url: str) -> None:
        per_process = 10
        outcomes = run_processes(
            url,
            "create_users",
            [(uuid.uuid4().hex, per_process) for _ in range(self.race_processes)],
            self.race_timeout,
            self.process_opener,
        )
        assert not _errors(outcomes)
        assert outcomes == [("ok", per_process)] * self.race_processes
        assert adapter.counts()["users"] == per_process * self.race_processes
