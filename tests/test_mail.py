"""The background mail sender: a bounded queue, retries, nothing lost on a clean stop.

The mailers behind it are test doubles of an SMTP server (the edge of the
world): one that fails a given number of times, one that waits on an event.
No assertion depends on time: waits are events, retry delays are zero.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_store import ConfigurationError
from auth_store.mail import (
    BackgroundMailer,
    DeferringMailer,
    MemoryMailer,
    Message,
    OutboxMailer,
    deliver,
)

SECRET_LINK = "https://app.example/auth/magic-link?token=0123456789abcdef"  # never logged


def message(n: int = 0) -> Message:
    return Message(to=f"user{n}@example.com", subject=f"subject {n}", text=SECRET_LINK)


class Flaky:
    """Fails the first ``failures`` sends, then delivers to ``delivered``."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.delivered: list[Message] = []

    def send(self, message: Message) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("SMTP server went away")
        self.delivered.append(message)


class Gate:
    """Blocks every send until ``opened`` is set (an SMTP server that hangs)."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        self.delivered: list[Message] = []

    def send(self, message: Message) -> None:
        self.entered.set()
        self.opened.wait()
        self.delivered.append(message)


@pytest.fixture
def gate() -> Iterator[Gate]:
    made = Gate()
    yield made
    made.opened.set()


def test_sends_on_a_worker_thread_and_flush_waits_for_it() -> None:
    threads: list[str] = []

    class Recording(MemoryMailer):
        def send(self, message: Message) -> None:
            threads.append(threading.current_thread().name)
            super().send(message)

    sink = Recording()
    with BackgroundMailer(sink) as mailer:
        for n in range(5):
            mailer.send(message(n))
        assert mailer.flush()
        assert [m.to for m in sink.messages] == [f"user{n}@example.com" for n in range(5)]
        assert threads == ["auth-store-mail"] * 5
        assert mailer.sent == 5


def test_a_request_never_waits_for_a_hanging_server(gate: Gate) -> None:
    mailer = BackgroundMailer(gate)
    mailer.send(message(1))
    assert gate.entered.wait(60)  # the worker is stuck in send ...
    mailer.send(message(2))  # ... and this returns at once all the same
    assert not mailer.flush(timeout=0)
    gate.opened.set()
    assert mailer.flush()
    assert [m.to for m in gate.delivered] == ["user1@example.com", "user2@example.com"]
    assert mailer.close()


def test_a_full_queue_drops_new_mail_and_says_so(
    gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = BackgroundMailer(gate, max_queue=2)
    mailer.send(message(0))
    assert gate.entered.wait(60)  # taken off the queue: two places left
    with caplog.at_level(logging.WARNING, logger="auth_store.mail"):
        for n in range(1, 5):
            mailer.send(message(n))  # never blocks, never raises
    assert mailer.dropped == 2
    assert "mail queue full (2 waiting): a message was dropped" in caplog.text
    gate.opened.set()
    assert mailer.close()
    assert [m.to for m in gate.delivered] == [f"user{n}@example.com" for n in range(3)]


def test_failed_sends_are_retried(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(failures=2)
    with (
        caplog.at_level(logging.WARNING, logger="auth_store.mail"),
        BackgroundMailer(flaky, retries=3, retry_delay=0) as mailer,
    ):
        mailer.send(message())
        assert mailer.flush()
    assert flaky.attempts == 3
    assert flaky.delivered == [message()]
    assert (mailer.sent, mailer.failed) == (1, 0)
    assert caplog.text.count("failed (ConnectionError), retrying") == 2
    assert SECRET_LINK not in caplog.text


def test_mail_that_keeps_failing_is_given_up_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(failures=100)
    with (
        caplog.at_level(logging.WARNING, logger="auth_store.mail"),
        BackgroundMailer(flaky, retries=2, retry_delay=0) as mailer,
    ):
        mailer.send(message())
        mailer.send(message(1))
        assert mailer.flush()
    assert flaky.attempts == 6  # 1 + 2 retries, for each
    assert (mailer.sent, mailer.failed) == (0, 2)
    assert "mail to user0@example.com failed 3 times, given up: ConnectionError" in caplog.text
    assert SECRET_LINK not in caplog.text


def test_composing_runs_on_the_worker_and_a_failure_there_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = MemoryMailer()
    where: list[str] = []

    def compose() -> Message:
        where.append(threading.current_thread().name)
        return message()

    def broken() -> Message:
        raise RuntimeError("the store is down")

    with (
        caplog.at_level(logging.ERROR, logger="auth_store.mail"),
        BackgroundMailer(sink) as mailer,
    ):
        mailer.defer(broken)
        mailer.defer(lambda: None)  # nothing to send
        mailer.defer(compose)
        assert mailer.flush()
    assert where == ["auth-store-mail"]
    assert sink.messages == [message()]
    assert (mailer.sent, mailer.failed) == (1, 1)
    assert "a message could not be composed: RuntimeError: the store is down" in caplog.text


def test_close_delivers_what_is_queued_then_refuses_more() -> None:
    sink = MemoryMailer()
    mailer = BackgroundMailer(sink)
    for n in range(50):
        mailer.send(message(n))
    assert mailer.close()
    assert len(sink.messages) == 50
    with pytest.raises(ConfigurationError, match="closed"):
        mailer.send(message())
    assert mailer.close()  # again: nothing to do


def test_a_retry_wait_ends_when_the_mailer_closes() -> None:
    flaky = Flaky(failures=1)
    mailer = BackgroundMailer(flaky, retries=1, retry_delay=3600)
    mailer.send(message())
    assert mailer.close()  # does not wait an hour: the retry runs at once
    assert flaky.delivered == [message()]


@pytest.mark.parametrize(
    "options",
    [{"max_queue": 0}, {"max_queue": True}, {"retries": -1}, {"retry_delay": -1.0}],
)
def test_bad_settings_are_configuration_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        BackgroundMailer(MemoryMailer(), **options)  # type: ignore[arg-type]


def test_development_mailers_compose_and_deliver_at_once() -> None:
    memory = MemoryMailer()
    assert isinstance(memory, DeferringMailer)
    assert isinstance(BackgroundMailer(memory), DeferringMailer)
    where: list[str] = []

    def compose() -> Message:
        where.append(threading.current_thread().name)
        return message()

    deliver(memory, compose)
    assert where == [threading.current_thread().name]
    assert memory.messages == [message()]

    plain = Flaky(failures=0)  # a Mailer without defer: composed and sent now
    assert not isinstance(plain, DeferringMailer)
    deliver(plain, message)
    deliver(plain, lambda: None)
    assert plain.delivered == [message()]


def test_the_outbox_mailer_defers_at_once(tmp_path: Path) -> None:
    outbox = OutboxMailer(tmp_path / "outbox", console=None)
    outbox.defer(message)
    assert [m.to for m in outbox.messages()] == ["user0@example.com"]
