"""Writer processes for the file store's crash, multi-process and backup tests.

Run as a script (a real, separate interpreter)::

    python tests/file_writer.py crash URL LOG SEED     # random writes until killed
    python tests/file_writer.py mixed URL OUT WORKER N  # N mixed operations, then a report

``crash`` appends two JSON lines per operation to LOG: ``{"b": n, "op": ...}``
before the call and ``{"a": n, ...}`` after it returns, so the test knows
which writes were acknowledged and which one (at most) was in flight when
the process was killed. Each line goes out in one ``write`` to an
``O_APPEND`` descriptor: a SIGKILL can't tear it, and the page cache keeps
it without an fsync.
"""

from __future__ import annotations

import json
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import auth_store
from auth_store import Account, Credential, Session, User, VerificationToken
from auth_store.adapter import Adapter

#: What the crash writer knows of the store: the same shape ``snapshot`` returns.
State = dict[str, dict[str, Any]]

PROVIDER = "crashhub"


def snapshot(store: Adapter) -> State:
    """The store's content as plain JSON-able dicts, keyed the way the writer addresses it."""
    state: State = {k: {} for k in ("users", "sessions", "credentials", "tokens", "accounts")}
    for record in store.export():
        if isinstance(record, User):
            state["users"][str(record.id)] = {"email": record.email, "name": record.name}
        elif isinstance(record, Session):
            state["sessions"][record.session_token] = {
                "id": record.id,
                "user_id": record.user_id,
                "expires": record.expires.isoformat(),
            }
        elif isinstance(record, Credential):
            state["credentials"][str(record.id)] = {
                "user_id": record.user_id,
                "version": record.version,
                "data": record.data,
            }
        elif isinstance(record, VerificationToken):
            state["tokens"][f"{record.identifier} {record.token}"] = {
                "expires": record.expires.isoformat()
            }
        elif isinstance(record, Account):
            state["accounts"][record.provider_account_id] = {
                "id": record.id,
                "user_id": record.user_id,
            }
    return state


def apply_op(state: State, op: dict[str, Any]) -> None:
    """Apply one logged operation to a state, as the store should have."""
    kind = op["op"]
    if kind == "create_user":
        state["users"][op["id"]] = {"email": op["email"], "name": op["name"]}
    elif kind == "update_user":
        state["users"][op["id"]]["name"] = op["name"]
    elif kind == "delete_user":
        del state["users"][op["id"]]
        for table in ("sessions", "credentials", "accounts"):
            for key in [k for k, r in state[table].items() if r["user_id"] == op["id"]]:
                del state[table][key]
    elif kind == "create_session":
        state["sessions"][op["token"]] = {
            "id": op["id"],
            "user_id": op["user_id"],
            "expires": op["expires"],
        }
    elif kind == "update_session":
        state["sessions"][op["token"]]["expires"] = op["expires"]
    elif kind == "delete_session":
        del state["sessions"][op["token"]]
    elif kind == "create_credential":
        state["credentials"][op["id"]] = {
            "user_id": op["user_id"],
            "version": 1,
            "data": op["data"],
        }
    elif kind == "update_credential":
        state["credentials"][op["id"]].update(version=op["version"] + 1, data=op["data"])
    elif kind == "create_token":
        state["tokens"][op["key"]] = {"expires": op["expires"]}
    elif kind == "use_token":
        del state["tokens"][op["key"]]
    elif kind == "link_account":
        state["accounts"][op["pid"]] = {"id": op["id"], "user_id": op["user_id"]}
    elif kind == "unlink_account":
        del state["accounts"][op["pid"]]
    else:
        raise AssertionError(f"unknown op {kind}")


def touched(state: State, op: dict[str, Any]) -> list[tuple[str, str]]:
    """The (table, key) pairs an operation may change: all of them, or none, or in between."""
    kind = op["op"]
    table, field = {
        "create_user": ("users", "id"),
        "update_user": ("users", "id"),
        "delete_user": ("users", "id"),
        "create_session": ("sessions", "token"),
        "update_session": ("sessions", "token"),
        "delete_session": ("sessions", "token"),
        "create_credential": ("credentials", "id"),
        "update_credential": ("credentials", "id"),
        "create_token": ("tokens", "key"),
        "use_token": ("tokens", "key"),
        "link_account": ("accounts", "pid"),
        "unlink_account": ("accounts", "pid"),
    }[kind]
    keys = [(table, op[field])]
    if kind == "delete_user":
        for owned in ("sessions", "credentials", "accounts"):
            keys += [(owned, k) for k, r in state[owned].items() if r["user_id"] == op["id"]]
    return keys


def _later(rng: random.Random) -> str:
    return (datetime.now(UTC) + timedelta(seconds=rng.randint(60, 10**6))).isoformat()


def next_op(state: State, rng: random.Random) -> dict[str, Any]:
    """A random operation that is valid against ``state``."""
    users = sorted(state["users"])
    choices = ["create_user"] * 4 + ["create_token"]
    if users:
        choices += ["update_user"] * 3 + ["delete_user", "create_session"] * 2
        choices += ["create_credential", "link_account"]
    if state["sessions"]:
        choices += ["update_session", "delete_session"]
    if state["credentials"]:
        choices += ["update_credential"] * 3
    if state["tokens"]:
        choices += ["use_token"]
    if state["accounts"]:
        choices += ["unlink_account"]
    kind = rng.choice(choices)
    new_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
    if kind == "create_user":
        return {"op": kind, "id": new_id, "email": f"{new_id}@crash.test", "name": "n0"}
    if kind == "update_user":
        return {"op": kind, "id": rng.choice(users), "name": f"n{rng.randint(1, 10**9)}"}
    if kind == "delete_user":
        return {"op": kind, "id": rng.choice(users)}
    if kind == "create_session":
        token = f"secret-{new_id}"
        user_id = rng.choice(users)
        return {
            "op": kind,
            "token": token,
            "id": new_id,
            "user_id": user_id,
            "expires": _later(rng),
        }
    if kind == "update_session":
        return {"op": kind, "token": rng.choice(sorted(state["sessions"])), "expires": _later(rng)}
    if kind == "delete_session":
        return {"op": kind, "token": rng.choice(sorted(state["sessions"]))}
    if kind == "create_credential":
        return {"op": kind, "id": new_id, "user_id": rng.choice(users), "data": {"n": 0}}
    if kind == "update_credential":
        cid = rng.choice(sorted(state["credentials"]))
        version = state["credentials"][cid]["version"]
        return {"op": kind, "id": cid, "version": version, "data": {"n": version}}
    if kind == "create_token":
        return {"op": kind, "key": f"{new_id}@crash.test tok-{new_id}", "expires": _later(rng)}
    if kind == "use_token":
        return {"op": kind, "key": rng.choice(sorted(state["tokens"]))}
    if kind == "link_account":
        return {"op": kind, "pid": new_id, "id": f"acc-{new_id}", "user_id": rng.choice(users)}
    return {"op": kind, "pid": rng.choice(sorted(state["accounts"]))}


def perform(store: Adapter, op: dict[str, Any]) -> None:
    """Carry out one operation on the store; raise if it does not do what it should."""
    kind = op["op"]
    if kind == "create_user":
        store.create_user(User(id=op["id"], email=op["email"], name=op["name"]))
    elif kind == "update_user":
        store.update_user(op["id"], name=op["name"])
    elif kind == "delete_user":
        assert store.delete_user(op["id"]) is not None
    elif kind == "create_session":
        expires = datetime.fromisoformat(op["expires"])
        session = Session(
            id=op["id"], session_token=op["token"], user_id=op["user_id"], expires=expires
        )
        store.create_session(session)
    elif kind == "update_session":
        expires = datetime.fromisoformat(op["expires"])
        assert store.update_session(op["token"], expires=expires) is not None
    elif kind == "delete_session":
        assert store.delete_session(op["token"]) is not None
    elif kind == "create_credential":
        store.create_credential(
            Credential(id=op["id"], user_id=op["user_id"], type="password", data=op["data"])
        )
    elif kind == "update_credential":
        done = store.update_credential(op["id"], op["data"], expected_version=op["version"])
        assert done is not None
    elif kind == "create_token":
        identifier, token = op["key"].split(" ")
        expires = datetime.fromisoformat(op["expires"])
        store.create_verification_token(
            VerificationToken(identifier=identifier, token=token, expires=expires)
        )
    elif kind == "use_token":
        identifier, token = op["key"].split(" ")
        assert store.use_verification_token(identifier, token) is not None
    elif kind == "link_account":
        account = Account(
            id=op["id"],
            user_id=op["user_id"],
            type="oauth",
            provider=PROVIDER,
            provider_account_id=op["pid"],
            access_token="at-secret",
        )
        store.link_account(account)
    elif kind == "unlink_account":
        assert store.unlink_account(PROVIDER, op["pid"]) is not None


def crash_writer(url: str, log_path: str, seed: int) -> None:
    """Write at random until killed, logging each operation before and after."""
    rng = random.Random(seed)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    store = auth_store.connect(url)
    state = snapshot(store)
    print("ready", flush=True)
    for n in range(10**9):
        op = next_op(state, rng)
        os.write(log, (json.dumps({"b": n, **op}) + "\n").encode())
        perform(store, op)
        os.write(log, (json.dumps({"a": n}) + "\n").encode())
        apply_op(state, op)


def mixed_worker(url: str, out_path: str, worker: int, count: int) -> None:
    """``count`` mixed operations on a shared store; write what this worker expects to OUT.

    Shared: the credential ``counter`` (incremented by compare-and-set with
    retries; the report says how many increments succeeded) and the users
    ``shared-0..3`` (renamed by every worker). Own: users, sessions,
    accounts and tokens this worker creates, updates and deletes.
    """
    rng = random.Random(worker)
    store = auth_store.connect(url)
    state: State = {k: {} for k in ("users", "sessions", "credentials", "tokens", "accounts")}
    increments = 0
    renames: list[str] = []
    done = 0
    while done < count:
        roll = rng.random()
        if roll < 0.25:
            current = store.get_credential("counter")
            assert current is not None
            data = {"n": current.data["n"] + 1}
            if store.update_credential("counter", data, expected_version=current.version):
                increments += 1
        elif roll < 0.35:
            name = f"w{worker}-{done}"
            store.update_user(f"shared-{rng.randrange(4)}", name=name)
            renames.append(name)
        else:
            op = next_op(state, rng)
            if op["op"] in ("create_user", "create_token"):
                # Unique per worker, so two workers never collide by chance.
                op = json.loads(json.dumps(op).replace("@crash.test", f"@w{worker}.test"))
            perform(store, op)
            apply_op(state, op)
        done += 1
    store.close()
    report = {"state": state, "increments": increments, "renames": renames}
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(report, out)


def main(argv: list[str]) -> None:
    mode = argv[1]
    if mode == "crash":
        crash_writer(argv[2], argv[3], int(argv[4]))
    elif mode == "mixed":
        mixed_worker(argv[2], argv[3], int(argv[4]), int(argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
