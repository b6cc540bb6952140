"""Single use under races: one backup code or one TOTP code, submitted by 16 threads or
4 processes at once, succeeds exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auth_store import User, clock
from auth_store.adapter import Adapter
from auth_store.backup_codes import BackupCodeService
from auth_store.crypto import FieldCipher, Keyring
from auth_store.testing import stores
from auth_store.totp import TOTPService, totp_code

BACKUP_KEY = bytes(range(32))
KEY_ENTRY = Keyring.generate_key("race")

# Each worker opens the store by URL, says "ready", waits for a line on stdin,
# then makes its one attempt and prints the result.
WORKER = """
import sys
import auth_store
from auth_store.backup_codes import BackupCodeService
from auth_store.crypto import FieldCipher, Keyring
from auth_store.totp import TOTPService

url, kind, user_id, code = sys.argv[1:5]
with auth_store.connect(url) as store:
    if kind == "backup":
        service = BackupCodeService(store, bytes.fromhex(sys.argv[5]))
        check = lambda: service.consume(user_id, code)
    else:
        totp = TOTPService(store, FieldCipher(Keyring.from_env()))
        check = lambda: totp.verify(user_id, code)
    print("ready", flush=True)
    sys.stdin.readline()
    print("won" if check() else "lost", flush=True)
"""


@pytest.fixture(params=stores.backend_params())
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


@pytest.fixture(params=stores.backend_params(shared=True))
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Adapter, str]]:
    with stores.fresh_store(request.param, tmp_path) as opened:
        yield opened


def new_user(store: Adapter) -> str:
    user = store.create_user(User(email="ann@example.com"))
    assert user.id is not None
    return user.id


def backup_code(store: Adapter, user_id: str) -> str:
    return BackupCodeService(store, BACKUP_KEY).generate(user_id, count=3)[1]


def totp_now(store: Adapter, user_id: str) -> str:
    """Turn TOTP on with a known secret (no step used yet); return the current code."""
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    TOTPService(store, FieldCipher(Keyring.parse(KEY_ENTRY))).import_secret(user_id, secret)
    return totp_code(secret, clock.now())


def race_threads(check: Callable[[], bool], n: int = 16) -> list[bool]:
    barrier = threading.Barrier(n)
    results: list[bool] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(check())
        except BaseException as exc:  # surfaced below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == n
    return results


def race_processes(url: str, kind: str, user_id: str, code: str, n: int = 4) -> list[str]:
    env = {**os.environ, "AUTH_STORE_KEYS": KEY_ENTRY}
    args = [sys.executable, "-c", WORKER, url, kind, user_id, code, BACKUP_KEY.hex()]
    workers = [
        subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for _ in range(n)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != b"ready":
                worker.kill()
                pytest.fail(worker.communicate()[1].decode() or "a worker died before starting")
        for worker in workers:  # release them together
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            worker.stdin.flush()
        outputs = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err.decode()
            outputs.append(out.decode().strip())
        return outputs
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def test_threads_share_one_backup_code(any_store: Adapter) -> None:
    user_id = new_user(any_store)
    code = backup_code(any_store, user_id)
    service = BackupCodeService(any_store, BACKUP_KEY)
    results = race_threads(lambda: service.consume(user_id, code))
    assert results.count(True) == 1
    assert service.remaining(user_id) == 2


def test_threads_share_one_totp_code(any_store: Adapter) -> None:
    user_id = new_user(any_store)
    code = totp_now(any_store, user_id)
    totp = TOTPService(any_store, FieldCipher(Keyring.parse(KEY_ENTRY)))
    results = race_threads(lambda: totp.verify(user_id, code))
    assert results.count(True) == 1


@pytest.mark.slow
def test_processes_share_one_backup_code(shared_store: tuple[Adapter, str]) -> None:
    store, url = shared_store
    user_id = new_user(store)
    code = backup_code(store, user_id)
    outputs = race_processes(url, "backup", user_id, code)
    assert sorted(outputs) == ["lost", "lost", "lost", "won"]
    assert BackupCodeService(store, BACKUP_KEY).remaining(user_id) == 2


@pytest.mark.slow
def test_processes_share_one_totp_code(shared_store: tuple[Adapter, str]) -> None:
    store, url = shared_store
    user_id = new_user(store)
    code = totp_now(store, user_id)
    outputs = race_processes(url, "totp", user_id, code)
    assert sorted(outputs) == ["lost", "lost", "lost", "won"]
