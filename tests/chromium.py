"""What the browser tests share: headless Chromium through chromedriver, and live servers.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them); without them a browser test skips with a message, except under CI,
where it fails. The example apps run on real servers on 127.0.0.1 (uvicorn
for FastAPI, Werkzeug's threaded server for Flask) in a thread of the test.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CHROMEDRIVER",
    "CHROMIUM",
    "WAIT",
    "chrome_driver",
    "free_port",
    "need_chromium",
    "serve",
    "serve_on_async_store",
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


#: How long a step may wait for the browser: a guard against a hang, far above
#: what a step takes on a loaded machine, not a measure of speed.
WAIT = 120


def need_chromium() -> None:
    """Fail, naming the fix, when headless Chromium or chromedriver is missing (never skip)."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    pytest.fail(
        "headless Chromium is not installed: "
        "apt-get install -y chromium chromium-driver (.ci/run does this)",
        pytrace=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def chrome_driver(profile: Path) -> Iterator[Any]:
    """A headless Chromium session (a Selenium ``WebDriver``), quit afterwards."""
    need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1100,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def serve(app: Any, port: int, *, kind: str) -> Iterator[None]:
    """Serve a FastAPI (``kind="fastapi"``) or Flask app on 127.0.0.1:``port`` meanwhile."""
    if kind == "fastapi":
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the example app did not start")
            time.sleep(0.05)
        try:
            yield
        finally:
            server.should_exit = True
            thread.join(timeout=30)
        return
    from werkzeug.serving import make_server

    wsgi = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        wsgi.shutdown()
        thread.join(timeout=30)
        wsgi.server_close()


@contextmanager
def serve_on_async_store(url: str, port: int, make_app: Callable[[Any], Any]) -> Iterator[None]:
    """Serve ``make_app(store)`` with uvicorn on 127.0.0.1:``port`` meanwhile, where ``store``
    is ``await auth_store.connect_async(url)`` opened on the serving loop (as the FastAPI
    example's ``main`` does: a native async Postgres pool lives on that loop)."""
    import uvicorn

    import auth_store

    servers: list[uvicorn.Server] = []
    failed: list[BaseException] = []

    async def main() -> None:
        async with await auth_store.connect_async(url) as store:
            config = uvicorn.Config(
                make_app(store), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
            )
            server = uvicorn.Server(config)
            servers.append(server)
            await server.serve()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the waiting test
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (servers and servers[0].started):
        if failed or time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"the example app did not start: {failed!r}")
        time.sleep(0.05)
    try:
        yield
    finally:
        servers[0].should_exit = True
        thread.join(timeout=30)
