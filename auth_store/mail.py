"""Sending the sign-in flow's e-mails: the ``Mailer`` protocol, a background sender, two mailers.

Production apps pass their own ``Mailer`` (SMTP, an e-mail API): anything
with ``send(message)``. ``AuthFlow`` puts it behind a ``BackgroundMailer``,
which delivers on a worker thread from a bounded queue, retrying failures,
so no request waits for mail. The flow also hands it the work of *composing*
a message (looking the address up, issuing the link's token) with
``defer``: a request then does the same work whether or not an account
exists, and its time tells nothing (docs/security.md).

``OutboxMailer`` (writes ``.eml`` files and echoes them to the console) and
``MemoryMailer`` (keeps messages in a list) are for development and tests.
They compose and deliver at once, on the caller's thread, so a test sees
its mail immediately; that is also why they hide nothing by timing. Both
show links that sign people in: never use them where others read the
console or the folder.
"""

from __future__ import annotations

import atexit
import email.policy
import logging
import queue
import secrets
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from . import clock
from .errors import ConfigurationError

__all__ = [
    "BackgroundMailer",
    "Compose",
    "DeferringMailer",
    "Mailer",
    "MemoryMailer",
    "Message",
    "OutboxMailer",
    "deliver",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Message:
    """One plain-text e-mail. ``text`` often holds a sign-in link, so ``repr`` leaves it out."""

    to: str
    subject: str
    text: str = field(repr=False)


#: Makes a message, doing the store work it needs first, or decides there is none.
Compose = Callable[[], "Message | None"]


class Mailer(Protocol):
    """Anything that can deliver a ``Message``."""

    def send(self, message: Message) -> None:
        """Deliver ``message`` (or raise)."""
        ...


@runtime_checkable
class DeferringMailer(Protocol):
    """A mailer that can also be handed the work of composing a message.

    ``defer(compose)`` runs ``compose`` when it suits the mailer (on a worker
    thread, for ``BackgroundMailer``) and delivers the message it returns.
    """

    def send(self, message: Message) -> None:
        """Deliver ``message``."""
        ...

    def defer(self, compose: Compose) -> None:
        """Run ``compose`` and deliver what it returns (``None``: nothing to send)."""
        ...


def deliver(mailer: Mailer, compose: Compose) -> None:
    """Hand ``compose`` to ``mailer``: deferred if it can defer, else composed and sent now."""
    if isinstance(mailer, DeferringMailer):
        mailer.defer(compose)
        return
    message = compose()
    if message is not None:
        mailer.send(message)


# BackgroundMailers alive in this process: drained (briefly) when it exits.
_LIVE: weakref.WeakSet[BackgroundMailer] = weakref.WeakSet()


@atexit.register
def _drain_at_exit() -> None:
    for mailer in list(_LIVE):
        mailer.close(timeout=10)


class BackgroundMailer:
    """Delivers through ``mailer`` on a worker thread, from a bounded queue, with retries.

    ``send`` and ``defer`` only queue, so they never block and never fail:
    a full queue (``max_queue`` waiting) drops the new message and logs a
    warning, a compose step that raises is logged and dropped, and a send
    that raises is retried ``retries`` times, after ``retry_delay`` seconds,
    then twice that, and so on, then logged and dropped. Logs name what
    failed, never a message's text (it holds sign-in links). Counts are in
    ``sent``, ``failed`` and ``dropped``.

    Each message waits ``delay`` seconds in the queue before the worker
    composes it: by then the request that queued it has answered, so the
    worker's work (which differs when an account exists: a token to issue,
    a message to send) does not compete with that request for the CPU and
    show in its time.

    The worker starts with the first message. ``flush()`` waits until
    everything queued is done; ``close()`` delivers what is queued, then
    stops (at interpreter exit this happens by itself, for up to 10 s).
    """

    def __init__(
        self,
        mailer: Mailer,
        *,
        max_queue: int = 1000,
        retries: int = 3,
        retry_delay: float = 1.0,
        delay: float = 0.05,
    ) -> None:
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ConfigurationError("max_queue must be a positive int")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError("retries must be an int >= 0")
        for name, value in (("retry_delay", retry_delay), ("delay", delay)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigurationError(f"{name} must be a number >= 0")
        self.mailer = mailer
        self.max_queue = max_queue
        self.retries = retries
        self.retry_delay = float(retry_delay)
        self.delay = float(delay)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[tuple[float, Compose] | None] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # queued or being handled
        self._closing = threading.Event()
        self._worker: threading.Thread | None = None
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"BackgroundMailer({self.mailer!r}, queued={self._queue.qsize()})"

    def send(self, message: Message) -> None:
        """Queue ``message`` for delivery."""
        self.defer(lambda: message)

    def defer(self, compose: Compose) -> None:
        """Queue ``compose``: the worker runs it, then delivers the message it returns."""
        with self._lock:
            if self._closing.is_set():
                raise ConfigurationError("this BackgroundMailer is closed")
            self._start()
            try:
                self._queue.put_nowait((time.monotonic() + self.delay, compose))
            except queue.Full:
                self.dropped += 1
                log.warning("mail queue full (%d waiting): a message was dropped", self.max_queue)
                return
            self._pending += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is done; False if ``timeout`` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is queued, then stop the worker; False if ``timeout`` ran out first."""
        with self._lock:
            if self._closing.is_set() and self._worker is None:
                return True
            self._closing.set()
            worker = self._worker
        if worker is None:
            return True
        self._queue.put(None)  # after everything queued: the worker's signal to stop
        worker.join(timeout)
        if worker.is_alive():
            return False
        with self._lock:
            self._worker = None
        return True

    def __enter__(self) -> BackgroundMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the worker ------------------------------------------------------------

    def _start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="auth-store-mail", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            due, compose = job
            wait = due - time.monotonic()
            if wait > 0:
                self._closing.wait(wait)  # a close() sends what is queued at once
            try:
                self._handle(compose)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _handle(self, compose: Compose) -> None:
        try:
            message = compose()
        except Exception as exc:  # a worker must outlive any one message
            self.failed += 1
            log.error("a message could not be composed: %s: %s", type(exc).__name__, exc)
            return
        if message is None:
            return
        delay = self.retry_delay
        for attempt in range(self.retries + 1):
            try:
                self.mailer.send(message)
            except Exception as exc:  # retried, then logged
                if attempt == self.retries:
                    self.failed += 1
                    log.error(
                        "mail to %s failed %d times, given up: %s: %s",
                        message.to, attempt + 1, type(exc).__name__, exc,
                    )  # fmt: skip
                    return
                log.warning(
                    "mail to %s failed (%s), retrying in %.1f s",
                    message.to, type(exc).__name__, delay,
                )  # fmt: skip
                # A close() in the meantime cuts the wait short, not the retries.
                self._closing.wait(delay)
                delay *= 2
            else:
                self.sent += 1
                return


class MemoryMailer:
    """Keeps sent messages in ``self.messages`` (for tests)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        """Append ``message`` to ``messages``."""
        with self._lock:
            self.messages.append(message)

    def defer(self, compose: Compose) -> None:
        """Compose now, on the caller's thread, and keep the message (see the module doc)."""
        message = compose()
        if message is not None:
            self.send(message)

    def last(self, to: str | None = None) -> Message:
        """The newest message (to ``to``, if given); ``LookupError`` if there is none."""
        with self._lock:
            for message in reversed(self.messages):
                if to is None or message.to == to:
                    return message
        raise LookupError("no such message")


class OutboxMailer:
    """Writes each message to ``folder`` as an ``.eml`` file and echoes it to ``console``."""

    def __init__(
        self,
        folder: str | Path,
        *,
        sender: str = "auth-store <no-reply@localhost>",
        console: TextIO | None = sys.stderr,
    ) -> None:
        self.folder = Path(folder)
        self.sender = sender
        self.console = console

    def send(self, message: Message) -> None:
        """Write ``message`` to the outbox folder and print it."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = clock.now()
        mail.set_content(message.text)
        self.folder.mkdir(parents=True, exist_ok=True)
        # A sortable, collision-free name that owes nothing to the recipient's address.
        name = f"{clock.now().strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}.eml"
        temp = self.folder / f".{name}.tmp"
        temp.write_bytes(mail.as_bytes())
        temp.replace(self.folder / name)
        if self.console is not None:
            print(
                f"--- mail to {message.to}: {message.subject}\n{message.text}\n---",
                file=self.console,
                flush=True,
            )

    def defer(self, compose: Compose) -> None:
        """Compose now, on the caller's thread, and write the message (see the module doc)."""
        message = compose()
        if message is not None:
            self.send(message)

    def messages(self) -> list[Message]:
        """Every message in the outbox, oldest first."""
        if not self.folder.is_dir():
            return []
        parser = BytesParser(policy=email.policy.default)
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            parsed = parser.parsebytes(path.read_bytes())
            body = parsed.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            found.append(Message(to=str(parsed["To"]), subject=str(parsed["Subject"]), text=text))
        return found
