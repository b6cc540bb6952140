"""The test session always has a Postgres server: the given one, the local one, or its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import auth_store
from auth_store import User
from tests.pg_server import PG_ENV, ThrowawayPostgres, ensure_test_server, reachable

ROOT = Path(__file__).resolve().parent.parent


def _dead_url() -> str:
    """A Postgres URL where nothing listens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/test"


def test_with_nothing_listening_the_session_starts_its_own_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PG_ENV, raising=False)
    server = ensure_test_server(default_url=_dead_url())
    assert isinstance(server, ThrowawayPostgres)
    try:
        url = os.environ[PG_ENV]
        assert url == server.url
        assert reachable(url) is None
        with auth_store.connect(url) as store:  # a real server: migrations, a write, a read
            user = store.create_user(User(email="ada@example.com"))
            assert store.get_user_by_email("ada@example.com") == user
    finally:
        server.stop()
    assert reachable(url) is not None
    assert not server.root.exists()


def test_a_reachable_local_server_is_used_and_a_given_url_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session_url = os.environ[PG_ENV]  # whatever this session runs on answers
    monkeypatch.delenv(PG_ENV)
    assert ensure_test_server(default_url=session_url) is None
    assert os.environ[PG_ENV] == session_url
    given = _dead_url()
    monkeypatch.setenv(PG_ENV, given)
    assert ensure_test_server(default_url=session_url) is None
    assert os.environ[PG_ENV] == given  # asked for: used as is, and fails if it's down


def test_a_killed_session_leaves_no_server_behind(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from tests.pg_server import ThrowawayPostgres\n"
        "server = ThrowawayPostgres.start()\n"
        "print(server.url, server.root, flush=True)\n"
        "time.sleep(600)\n"
    )
    session = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert session.stdout is not None
        url, root = session.stdout.readline().split()
        assert reachable(url) is None
    finally:
        session.send_signal(signal.SIGKILL)
        session.wait()
        session.stdout.close()  # type: ignore[union-attr]
    # The watchdog notices and cleans up (pytest-timeout guards against it never doing so).
    while Path(root).exists():
        time.sleep(0.05)
    assert reachable(url) is not None
