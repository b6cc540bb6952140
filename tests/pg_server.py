"""A throwaway PostgreSQL server for a test session, so Postgres is always tested.

``ensure_test_server()`` (called by ``tests/conftest.py`` before collection)
decides which server the session tests against:

1. ``AUTH_STORE_TEST_POSTGRES_URL`` when it is set (an unreachable one fails
   the Postgres tests: it was asked for);
2. otherwise the default ``postgresql://postgres@127.0.0.1:5432/test`` when
   something answers there (the machine's own server, as ``.ci/run`` starts it);
3. otherwise a server of its own: ``initdb`` into a temporary directory,
   ``pg_ctl start`` on a free 127.0.0.1 port, a ``test`` database, stopped and
   deleted when the session ends.

Whichever it is, it ends up in ``AUTH_STORE_TEST_POSTGRES_URL``, so every
helper and every child process sees the same server. No Postgres test ever
skips.

The binaries are PostgreSQL's own: ``initdb`` on ``PATH``, else ``pg_config
--bindir``, else Debian's ``/usr/lib/postgresql/<version>/bin``. ``initdb``
and the server refuse to run as root, so as root they run as the
``postgres`` system user (which Debian's package creates). A watchdog
process stops and deletes the server if the test process dies without
cleaning up (``kill -9``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

__all__ = ["DEFAULT_URL", "PG_ENV", "ThrowawayPostgres", "ensure_test_server", "reachable"]

PG_ENV = "AUTH_STORE_TEST_POSTGRES_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Runs in its own process: waits until its stdin closes (the test session
# ended, or died), then stops the server and removes its directory.
_WATCHDOG = """
import shutil, subprocess, sys
pg_ctl, data, root, user = sys.argv[1:5]
sys.stdin.read()
subprocess.run(
    [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"],
    user=int(user) if user else None, capture_output=True, check=False,
)
shutil.rmtree(root, ignore_errors=True)
"""


def reachable(url: str) -> str | None:
    """``None`` when a server answers at ``url``, else why not."""
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are (``RuntimeError`` if nowhere)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(bindir) / "initdb").exists():
            return Path(bindir)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    raise RuntimeError(
        "no PostgreSQL server binaries (initdb, pg_ctl) to start a test server: install them"
        " (Debian: apt-get install postgresql) or set AUTH_STORE_TEST_POSTGRES_URL"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL server in a temporary directory, for one test session."""

    root: Path
    url: str
    _watchdog: subprocess.Popen[bytes]

    @classmethod
    def start(cls) -> ThrowawayPostgres:
        """initdb, start on a free port, create database ``test``; the server's handle."""
        bindir = _bindir()
        uid: int | None = None
        root = Path(tempfile.mkdtemp(prefix="auth-store-pg-"))
        if os.geteuid() == 0:  # initdb and postgres refuse root
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root)
                raise RuntimeError(
                    "running as root, and there is no 'postgres' user to run a test server"
                    " as: create one, or set AUTH_STORE_TEST_POSTGRES_URL"
                ) from None
            uid = account.pw_uid
            os.chown(root, account.pw_uid, account.pw_gid)
        data = root / "data"
        # From here on, the watchdog owns the cleanup, whatever happens to us.
        user = str(uid) if uid is not None else ""
        watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(bindir / "pg_ctl"), str(data), str(root), user],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        server = cls(root=root, url="", _watchdog=watchdog)
        try:
            server._run(
                uid,
                bindir / "initdb",
                "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync", "--no-instructions",
            )  # fmt: skip
            port = server._start(uid, bindir / "pg_ctl", data)
            with psycopg.connect(
                f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True
            ) as admin:
                admin.execute("CREATE DATABASE test")
            server.url = f"postgresql://postgres@127.0.0.1:{port}/test"
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, uid: int | None, *command: str | Path) -> None:
        done = subprocess.run(
            [str(part) for part in command],
            user=uid,
            extra_groups=[] if uid is not None else None,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(str(command[0])).name} failed ({done.returncode}):"
                f" {done.stderr.strip() or done.stdout.strip()}"
            )

    def _start(self, uid: int | None, pg_ctl: Path, data: Path) -> int:
        """Start the server on a free port (another process may take one first: retry)."""
        for attempt in range(5):
            port = _free_port()
            options = (
                f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -F -c max_connections=200"
            )
            try:
                self._run(
                    uid, pg_ctl, "-D", data, "-o", options, "-l", self.root / "server.log",
                    "-w", "-t", "120", "start",
                )  # fmt: skip
            except RuntimeError:
                if attempt == 4:
                    log = self.root / "server.log"
                    raise RuntimeError(
                        "the test Postgres server did not start: "
                        + (log.read_text(errors="replace")[-2000:] if log.exists() else "")
                    ) from None
                continue
            return port
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server and delete its directory (waits until both are done)."""
        if self._watchdog.stdin is not None and not self._watchdog.stdin.closed:
            self._watchdog.stdin.close()
        self._watchdog.wait()


#: Why no server could be had for this session (shown by every Postgres test that fails).
problem: str | None = None


def ensure_test_server(default_url: str = DEFAULT_URL) -> ThrowawayPostgres | None:
    """Make ``AUTH_STORE_TEST_POSTGRES_URL`` name a server; the one started here, if any.

    When no server can be started, ``problem`` says why and the variable stays
    unset: the Postgres tests then fail with that reason (they never skip),
    and the others still run.
    """
    global problem
    if os.environ.get(PG_ENV):
        return None
    if reachable(default_url) is None:
        os.environ[PG_ENV] = default_url
        return None
    try:
        server = ThrowawayPostgres.start()
    except RuntimeError as exc:
        problem = f"nothing answers at {default_url}, and no test server could be started: {exc}"
        return None
    os.environ[PG_ENV] = server.url
    return server
