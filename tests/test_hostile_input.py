"""Hostile request bodies on real servers: a clear 4xx, and no submitted secret in the log.

A JSON string may escape half a UTF-16 surrogate pair (``"\\ud800"``): the
parser accepts it, but the text it makes cannot be encoded, so hashing the
password, storing the row or rendering an error that echoes the input
fails. Each example app runs in a real server (uvicorn, Werkzeug) on a free
port, every log record of the process is captured (tracebacks included, as
a server writes them), and every POST route is sent such a body.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from werkzeug.serving import make_server

import auth_store
from auth_store.mail import MemoryMailer
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app

SECRET = "hunter2-SECRET-password"  # the value that must never be logged
# Built as JSON text: json.dumps would escape the backslash.
BODY = (
    '{"email": "ann@example.com", "password": "' + SECRET + '\\ud800", "name": "A\\udfff",'
    ' "token": "t\\ud800", "code": "1\\ud800", "current_password": "' + SECRET + '\\ud800",'
    ' "new_password": "' + SECRET + '\\udbff", "label": "l\\ud800", "provider": "p",'
    ' "key": "' + SECRET + '\\ud800", "pending_token": "p\\ud800"}'
)


class Captured(logging.Handler):
    """Every record of the process, formatted as a server's log file would show it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("urllib3"):  # the test's own client
            self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def server_log() -> Iterator[Captured]:
    captured = Captured()
    root = logging.getLogger()
    level = root.level
    # The root logger, and every logger that does not pass records up to it
    # (a server's own logging setup, from this test or an earlier one).
    loggers = [root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        logger.addHandler(captured)
    root.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        for logger in loggers:
            logger.removeHandler(captured)
        root.setLevel(level)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _post_everywhere(base_url: str, paths: list[str], session: requests.Session) -> dict[str, int]:
    answers = {}
    for path in paths:
        try:
            response = session.post(
                f"{base_url}{path}",
                data=BODY.encode("ascii"),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        except requests.ConnectionError:  # the server gave up on the request
            answers[path] = 0
            continue
        answers[path] = response.status_code
        assert SECRET not in response.text, path  # nor echoed back
    return answers


def test_fastapi_answers_every_api_post_with_a_lone_surrogate_400(
    tmp_path: Path, server_log: Captured
) -> None:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    app = create_fastapi_app(
        store, base_url=base_url, data_dir=tmp_path / "demo", mailer=MemoryMailer()
    )
    server = uvicorn.Server(
        # log_config=None: uvicorn's loggers reach the root logger, as in a deployment
        # that configures logging itself.
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="debug", log_config=None, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the app did not start"
            time.sleep(0.02)
        with requests.Session() as session:
            openapi = session.get(f"{base_url}/openapi.json", timeout=60).json()
            paths = [
                re.sub(r"\{[^}]+\}", "x", path)
                for path, operations in openapi["paths"].items()
                if "post" in operations and path.startswith("/api/auth/")
            ]
            assert {"/api/auth/sign-in", "/api/auth/sign-up", "/api/auth/password"} <= set(paths)
            answers = _post_everywhere(base_url, paths, session)
    finally:
        server.should_exit = True
        thread.join()
        store.close()
    assert "Uvicorn running on" in server_log.text  # the server's log is captured
    assert SECRET not in server_log.text
    assert "Traceback" not in server_log.text
    assert answers == dict.fromkeys(paths, 400)


def test_fastapi_validation_errors_do_not_echo_the_submitted_values(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    app = create_fastapi_app(
        store, base_url="http://testserver", data_dir=tmp_path / "demo", mailer=MemoryMailer()
    )
    with TestClient(app) as client:
        too_long = client.post(
            "/api/auth/sign-in", json={"email": "ann@example.com", "password": SECRET * 400}
        )
        wrong_type = client.post("/api/auth/sign-up", json={"email": [SECRET], "password": 1})
    store.close()
    for response in (too_long, wrong_type):
        assert response.status_code == 422
        assert SECRET not in response.text
        assert all(set(error) == {"type", "loc", "msg"} for error in response.json()["detail"])
    assert too_long.json()["detail"][0]["loc"] == ["body", "password"]


def test_flask_answers_every_post_with_a_lone_surrogate_400(
    tmp_path: Path, server_log: Captured
) -> None:
    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    app = create_flask_app(
        store, base_url="http://127.0.0.1", data_dir=tmp_path / "demo", mailer=MemoryMailer()
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rules: list[Any] = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or ())]
    paths = [re.sub(r"<[^>]+>", "x", rule.rule) for rule in rules]
    assert {"/sign-in", "/sign-up", "/account/password"} <= set(paths)
    try:
        with requests.Session() as session:
            session.get(f"{base_url}/sign-in", timeout=60)  # a session cookie, as a browser has
            answers = _post_everywhere(base_url, paths, session)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        store.close()
    assert "POST /sign-in" in server_log.text  # Werkzeug's request log was captured
    assert SECRET not in server_log.text
    assert "Traceback" not in server_log.text
    assert answers == dict.fromkeys(paths, 400)
