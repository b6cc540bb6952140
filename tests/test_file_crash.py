"""The file store survives SIGKILL: every acknowledged write is there, nothing is torn.

A writer process (``tests/file_writer.py crash``) creates, updates and
deletes users, sessions, credentials, accounts and verification tokens with
``durability=full``, logging each operation before the call and again after
it returns. The test lets it acknowledge a random number of operations, kills
it with SIGKILL at a random moment after that, reopens the store (which runs
the automatic recovery) and checks, 100 times:

- every acknowledged write is there, exactly as written (and every
  acknowledged delete is gone), through the API and its index lookups;
- the one operation in flight left each record it touches either as it was
  or as it would be, never torn or half-changed;
- ``check()`` finds nothing: no unreadable record, no stray temp file, no
  index entry that disagrees with the records.
"""

from __future__ import annotations

import copy
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from auth_store.adapters.file import FileAdapter
from tests.file_writer import PROVIDER, State, apply_op, snapshot, touched

WRITER = Path(__file__).with_name("file_writer.py")
KILLS = 100


class Log:
    """Reads the writer's log incrementally: acknowledged operations and the one in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.pending: dict[str, Any] | None = None
        self.acknowledged = 0

    def advance(self, state: State) -> dict[str, Any] | None:
        """Apply newly acknowledged operations to ``state``; return the one in flight."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        self.offset += len(data)
        for line in data.decode().splitlines():
            entry = json.loads(line)
            if "b" in entry:
                assert self.pending is None, "the writer began an operation before finishing one"
                self.pending = entry
            else:
                assert self.pending is not None
                assert self.pending["b"] == entry["a"]
                apply_op(state, self.pending)
                self.pending = None
                self.acknowledged += 1
        pending, self.pending = self.pending, None
        return pending


def _acknowledgements(path: Path) -> int:
    """How many operations the writers logged as done so far."""
    return path.read_bytes().count(b'{"a": ')


def _lookups_agree(store: FileAdapter, state: State) -> None:
    """Every record is found through its index, not only by listing the directory."""
    for user_id, user in state["users"].items():
        found = store.get_user_by_email(user["email"])
        assert found is not None
        assert found.id == user_id
    for token, session in state["sessions"].items():
        pair = store.get_session_and_user(token)
        assert pair is not None
        assert pair[0].id == session["id"]
        assert pair[1].id == session["user_id"]
    for pid, account in state["accounts"].items():
        linked = store.get_account(PROVIDER, pid)
        assert linked is not None
        assert linked.id == account["id"]
    for user_id in state["users"]:
        owned = {s.session_token for s in store.list_sessions(user_id)}
        assert owned == {t for t, s in state["sessions"].items() if s["user_id"] == user_id}


def _verify(root: Path, state: State, pending: dict[str, Any] | None) -> None:
    """Reopen, compare with what was acknowledged, adopt the in-flight op's outcome."""
    with FileAdapter(root, durability="full") as store:
        report = store.check()
        assert report.ok, "\n".join(str(p) for p in report.problems)
        actual = snapshot(store)
        fuzzy = set(touched(state, pending)) if pending else set()
        after = copy.deepcopy(state)
        if pending:
            apply_op(after, pending)
        for table in state:
            for key in set(state[table]) | set(actual[table]):
                have = actual[table].get(key)
                if (table, key) in fuzzy:
                    assert have in (state[table].get(key), after[table].get(key)), (
                        f"in-flight {pending and pending['op']} left {table}/{key} as {have}"
                    )
                else:
                    assert have == state[table].get(key), f"{table}/{key}: {have}"
        for table, key in fuzzy:
            if key in actual[table]:
                state[table][key] = actual[table][key]
            else:
                state[table].pop(key, None)
        assert actual == state
        _lookups_agree(store, state)


def test_sigkill_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    root = tmp_path / "store"
    log_path = tmp_path / "writes.log"
    log_path.touch()
    url = f"file://{root}?durability=full"
    rng = random.Random(20260601)
    state: State = {k: {} for k in ("users", "sessions", "credentials", "tokens", "accounts")}
    log = Log(log_path)
    in_flight = 0
    promised = 0
    for kill in range(KILLS):
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), "crash", url, str(log_path), str(rng.getrandbits(32))],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
            # A number of acknowledged writes, not a span of time: a loaded
            # machine writes fewer per second, never fewer per kill. Then a
            # short random pause, so kills land anywhere in the write protocol.
            count = rng.randint(1, 9)
            promised += count
            wanted = _acknowledgements(log_path) + count
            while _acknowledgements(log_path) < wanted:
                assert writer.poll() is None, f"kill {kill}: the writer exited by itself"
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.01))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
            writer.stdout.close()  # type: ignore[union-attr]
        assert writer.returncode == -signal.SIGKILL, f"kill {kill}: the writer exited by itself"
        pending = log.advance(state)
        in_flight += pending is not None
        _verify(root, state, pending)
    # The run did the work it waited for, and most kills hit an operation in
    # flight (an operation takes far longer than the step between two).
    assert log.acknowledged >= promised >= KILLS
    assert in_flight >= KILLS // 2
    assert sum(len(table) for table in state.values()) > 0
