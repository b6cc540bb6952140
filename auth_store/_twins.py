"""One body of service logic, two twins: sync (``auth_store``) and async (``auth_store.aio``).

A service method is written once, as a generator that *yields* what it
needs done outside itself (sans-IO) and gets the result back::

    @twin
    def get(self, token: str) -> Steps[Session | None]:
        found = yield from self._store(Adapter.get_session_and_user, token)
        ...

The operations are store calls (``Call``), CPU-heavy work such as password
hashing (``Offload``), a back-off pause (``Sleep``) and handing a message
to a mailer (``Deliver``). Two drivers run the same generator: ``run_sync``
performs each operation in place, ``run_async`` awaits the async store,
hashes on a worker thread and sleeps with ``asyncio.sleep``. Exceptions of
an operation are thrown back into the generator, so ``try``/``except``
around a store call behaves as in plain code.

A service class is generic in its store: the sync twin subclasses
``Core[Adapter]``, the async twin ``Core[AsyncAdapter]``, and neither adds
code. The ``twin`` descriptor turns each generator method into a plain
method on the first and a coroutine method on the second (mypy sees both),
and ``.steps(...)`` gives the generator itself, which is how one service
calls another inside a step.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Generator
from typing import (
    Any,
    ClassVar,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    TypeVar,
    TypeVarTuple,
    Unpack,
    get_args,
    get_origin,
    overload,
)

from .adapter import Adapter
from .async_adapter import AsyncAdapter
from .async_twin import AsyncTwin
from .capabilities import AppConventions, SharedWithAnotherApp
from .errors import ConfigurationError
from .mail import BackgroundMailer, Mailer, Message, deliver

__all__ = [
    "Call",
    "Deliver",
    "Offload",
    "Sleep",
    "Steps",
    "Twin",
    "call",
    "offload",
    "run_async",
    "run_sync",
    "shared_with",
    "sleep",
    "store_call",
    "store_update",
    "twin",
    "twin_of",
]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")
C = TypeVar("C", bound="Twin[Any]")
StoreT = TypeVar("StoreT")
Ts = TypeVarTuple("Ts")


class Op:
    """An operation a step yields; each driver knows how to perform it."""

    __slots__ = ()

    def run(self) -> Any:
        """Perform it in place (the sync driver)."""
        raise NotImplementedError

    async def arun(self) -> Any:
        """Perform it without blocking the event loop (the async driver)."""
        raise NotImplementedError


#: A step of service logic: yields ``Op``s, receives their results, returns ``R``.
Steps = Generator[Op, Any, R]


class Call(Op):
    """Call ``fn`` (a store's method, an HTTP client's): awaited when it returns an awaitable."""

    __slots__ = ("args", "fn", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def run(self) -> Any:
        return self.fn(*self.args, **self.kwargs)

    async def arun(self) -> Any:
        result = self.fn(*self.args, **self.kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


class Offload(Op):
    """CPU-bound work (a password hash: ~20 ms): in place, or on a worker thread when async."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]):
        self.fn = fn
        self.args = args

    def run(self) -> Any:
        return self.fn(*self.args)

    async def arun(self) -> Any:
        return await asyncio.to_thread(self.fn, *self.args)


class Sleep(Op):
    """A short pause (back-off between retries)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds

    def run(self) -> None:
        import time

        time.sleep(self.seconds)

    async def arun(self) -> None:
        await asyncio.sleep(self.seconds)


#: How long a ``BackgroundMailer``'s worker waits for the event loop to compose a message.
COMPOSE_TIMEOUT = 60.0


class Deliver(Op):
    """Hand the work of composing a message to a mailer (``auth_store.mail.deliver``).

    ``compose`` makes the steps that compose it (they may read the store).
    Sync: ``deliver`` as it is. Async: a ``BackgroundMailer``'s worker thread
    asks the event loop to run the steps (so the request does none of that
    work); any other mailer gets them composed now and the message sent.
    """

    __slots__ = ("compose", "mailer")

    def __init__(self, mailer: Mailer, compose: Callable[[], Steps[Message | None]]):
        self.mailer = mailer
        self.compose = compose

    def run(self) -> None:
        compose = self.compose
        deliver(self.mailer, lambda: run_sync(compose()))

    async def arun(self) -> None:
        compose = self.compose
        if isinstance(self.mailer, BackgroundMailer):
            loop = asyncio.get_running_loop()

            def on_worker() -> Message | None:
                steps = compose()
                if loop.is_running():
                    job = run_async(steps)
                    try:
                        future = asyncio.run_coroutine_threadsafe(job, loop)
                    except RuntimeError:  # closed meanwhile
                        job.close()
                    else:
                        return future.result(COMPOSE_TIMEOUT)
                # The loop that served the request is gone (a test client runs each
                # request on a loop of its own): a loop of the worker's, for a store
                # that is not bound to one (the threaded twins).
                return asyncio.run(run_async(steps))

            self.mailer.defer(on_worker)
            return
        message = await run_async(compose())
        if message is not None:
            self.mailer.send(message)


# -- building steps ------------------------------------------------------------


def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Steps[R]:
    """Call ``fn`` (sync) or await it (async); typed by the sync signature."""
    result: R = yield Call(fn, args, kwargs)
    return result


def store_call(
    store: object,
    method: Callable[Concatenate[Adapter, P], R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> Steps[R]:
    """``store.<method>(...)`` on an ``Adapter`` or an ``AsyncAdapter`` (the same names).

    ``method`` is the ``Adapter`` method (``Adapter.get_user``): it names the
    call and gives its types.
    """
    result: R = yield Call(getattr(store, method.__name__), args, kwargs)
    return result


def store_update(store: object, method: Callable[..., R], *keys: str, **changes: Any) -> Steps[R]:
    """``store.update_<x>(*keys, **changes)`` (``Adapter.update_user``, ``update_session``...).

    ``store_call`` for the methods that take ``**changes`` (which a
    ``Concatenate`` cannot type); the result keeps the method's return type.
    """
    result: R = yield Call(getattr(store, method.__name__), keys, changes)
    return result


def offload(fn: Callable[[Unpack[Ts]], R], *args: *Ts) -> Steps[R]:
    """Run CPU-heavy ``fn`` (in place, or on a worker thread in the async twin)."""
    result: R = yield Offload(fn, args)
    return result


def sleep(seconds: float) -> Steps[None]:
    """Pause (``time.sleep`` or ``asyncio.sleep``)."""
    yield Sleep(seconds)


# -- the drivers -----------------------------------------------------------------


def _advance(steps: Steps[Any], value: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Send ``value`` (or throw ``error``) into ``steps``: ``(True, result)`` at the end,
    else ``(False, the next operation)``."""
    try:
        return False, steps.send(value) if error is None else steps.throw(error)
    except StopIteration as stop:
        return True, stop.value


def run_sync(steps: Steps[R]) -> R:
    """Run ``steps`` to the end, performing each operation in place.

    An operation's exception is thrown back into the step where it yielded.
    """
    done, item = _advance(steps, None, None)
    while not done:
        value = error = None
        try:
            value = item.run()
        except BaseException as exc:
            error = exc
        done, item = _advance(steps, value, error)
    result: R = item
    return result


async def run_async(steps: Steps[R]) -> R:
    """Run ``steps`` to the end on the event loop, awaiting each operation.

    A cancellation is thrown into the step like any error, where it yielded,
    so its ``except BaseException``/``finally`` cleanup runs (and may still
    use the store), as in a coroutine written by hand.
    """
    done, item = _advance(steps, None, None)
    while not done:
        value = error = None
        try:
            value = await item.arun()
        except BaseException as exc:
            error = exc
        done, item = _advance(steps, value, error)
    result: R = item
    return result


# -- the twins ---------------------------------------------------------------------

Kind = Literal["sync", "async"]
_TWINS: dict[tuple[type, Kind], type] = {}


def shared_with(adapter: object) -> AppConventions | None:
    """The other app's conventions when ``adapter`` (or the sync store an async twin
    runs) shares its data with one (``SharedWithAnotherApp``); else ``None``."""
    runs = adapter.sync if isinstance(adapter, AsyncTwin) else None
    for candidate in (adapter, runs):
        if isinstance(candidate, SharedWithAnotherApp):
            return candidate.app_conventions()
    return None


class Twin(Generic[StoreT]):
    """Base of a service written once: ``Core[Adapter]`` is its sync twin, ``Core[AsyncAdapter]``
    its async one. ``adapter`` is the store the twin was built on."""

    _kind: ClassVar[Kind | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin, args = get_origin(base), get_args(base)
            if not (isinstance(origin, type) and issubclass(origin, Twin) and args):
                continue
            store = args[0]
            if store is Adapter:
                kind: Kind = "sync"
            elif store is AsyncAdapter:
                kind = "async"
            else:
                continue  # still generic (a core built on another core)
            cls._kind = kind
            _TWINS[(origin, kind)] = cls

    def __init__(self, adapter: StoreT) -> None:
        if self._kind is None:
            raise TypeError(
                f"{type(self).__name__} is the shared core of a service: use its sync twin "
                "(auth_store) or its async one (auth_store.aio)"
            )
        # Duck-typed stores (wrappers, recorders) are welcome; only the other twin's is refused.
        if self._kind == "async" and isinstance(adapter, Adapter):
            raise ConfigurationError(
                f"auth_store.aio.{type(self).__name__} needs an async store "
                "(await auth_store.connect_async); for a sync one use auth_store"
            )
        if self._kind == "sync" and isinstance(adapter, AsyncAdapter):
            raise ConfigurationError(
                f"{type(self).__name__} needs a sync store (auth_store.connect); "
                "for an async one use auth_store.aio"
            )
        self.adapter = adapter

    def _update(self, method: Callable[..., R], *keys: str, **changes: Any) -> Steps[R]:
        """``self.adapter.update_<x>(*keys, **changes)`` as a step (see ``store_update``)."""
        return store_update(self.adapter, method, *keys, **changes)

    def _twin(self, core: type[C]) -> type[C]:
        """The twin of another service's ``core`` of this one's kind (to build it)."""
        assert self._kind is not None
        return twin_of(core, self._kind)

    def _store(
        self, method: Callable[Concatenate[Adapter, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> Steps[R]:
        """``self.adapter.<method>(...)`` as a step (see ``store_call``)."""
        return store_call(self.adapter, method, *args, **kwargs)


def twin_of(core: type[C], kind: Kind) -> type[C]:
    """The ``kind`` twin of the service ``core`` (``twin_of(SessionManagerCore, "async")``)."""
    key = (core, kind)
    if key not in _TWINS:  # the async twins are declared in auth_store.aio
        import auth_store.aio

        getattr(auth_store.aio, _TWINS[(core, "sync")].__name__)
    found: type[C] = _TWINS[key]
    return found


class CoreBound(Protocol[P, R_co]):
    """A ``twin`` method read from a service whose kind the type checker does not know."""

    def steps(self, *args: P.args, **kwargs: P.kwargs) -> Steps[R_co]:
        """The method's steps, to ``yield from`` inside another step."""
        ...


class SyncBound(CoreBound[P, R_co], Protocol[P, R_co]):
    """A ``twin`` method of a sync service: call it."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


class AsyncBound(CoreBound[P, R_co], Protocol[P, R_co]):
    """A ``twin`` method of an async service: await it."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]: ...


class _Bound:
    __slots__ = ("_fn", "_obj")

    def __init__(self, fn: Callable[..., Steps[Any]], obj: object) -> None:
        self._fn = fn
        self._obj = obj

    def steps(self, *args: Any, **kwargs: Any) -> Steps[Any]:
        return self._fn(self._obj, *args, **kwargs)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self._fn.__doc__

    def __repr__(self) -> str:
        return f"<{self._fn.__qualname__} of {self._obj!r}>"


class _SyncBound(_Bound):
    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run_sync(self._fn(self._obj, *args, **kwargs))


class _AsyncBound(_Bound):
    __slots__ = ()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await run_async(self._fn(self._obj, *args, **kwargs))


class twin(Generic[S, P, R]):
    """Make a generator method a method of both twins (see the module docstring)."""

    def __init__(self, fn: Callable[Concatenate[S, P], Steps[R]]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__wrapped__ = fn

    def steps(self, obj: S, *args: P.args, **kwargs: P.kwargs) -> Steps[R]:
        """The steps of the method for ``obj``."""
        return self.fn(obj, *args, **kwargs)

    @overload
    def __get__(self, obj: None, owner: Any) -> twin[S, P, R]: ...
    @overload
    def __get__(self, obj: Twin[Adapter], owner: Any) -> SyncBound[P, R]: ...
    @overload
    def __get__(self, obj: Twin[AsyncAdapter], owner: Any) -> AsyncBound[P, R]: ...
    @overload
    def __get__(self, obj: Twin[Any], owner: Any) -> CoreBound[P, R]: ...
    def __get__(self, obj: Any, owner: Any) -> Any:
        if obj is None:
            return self
        kind = obj._kind
        if kind == "sync":
            return _SyncBound(self.fn, obj)
        if kind == "async":
            return _AsyncBound(self.fn, obj)
        return _Bound(self.fn, obj)
